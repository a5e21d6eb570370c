"""Errors identity's callers can act on: OAuth2 (RFC 6749 §5.2) and authenticate() refusals."""

from __future__ import annotations

AUTH_ERROR_REASONS = ("unknown", "expired", "revoked", "suspended")


class AuthenticationError(Exception):
    """authenticate(token) refused: `reason` is one of unknown, expired, revoked, suspended.

    Raised across RPC: nameko serialises it as a RemoteError whose `exc_type` is
    "AuthenticationError" and whose value starts with the reason, so callers need no import.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OAuthError(Exception):
    """A token endpoint refusal, rendered as {"error": ..., "error_description": ...}."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class Forbidden(Exception):
    """Authenticated, but not allowed to do this (403)."""


class Unauthorized(Exception):
    """No valid bearer token (401)."""
