"""Errors identity's callers can act on: OAuth2 (RFC 6749 §5.2) and authenticate() refusals."""

from __future__ import annotations

from services.common.errors import DomainError, Invalid, Unauthorized

AUTH_ERROR_REASONS = ("unknown", "expired", "revoked", "suspended")


class AuthenticationError(Exception):
    """authenticate(token) refused: `reason` is one of unknown, expired, revoked, suspended.

    Raised across RPC: nameko serialises it as a RemoteError whose `exc_type` is
    "AuthenticationError" and whose value starts with the reason, so callers need no import.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def oauth_error(error: str, description: str) -> DomainError:
    """A token endpoint refusal (RFC 6749 §5.2): `invalid_client` is a 401, the rest 400s."""
    if error == "invalid_client":
        return Unauthorized(description, code=error)
    return Invalid(description, code=error)
