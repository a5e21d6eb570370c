"""Contract errors: each names what a producer must fix or what a consumer must dead-letter."""

from __future__ import annotations

from typing import Any


class ContractError(Exception):
    """Base of every contract failure, so an entrypoint can catch them in one clause."""


class UnknownEventType(ContractError, LookupError):
    """No contract is registered for this event type (or route): nobody agreed on its shape."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type


class UnsupportedSchemaVersion(ContractError):
    """A version we do not know, usually newer than ours: the consumer must dead-letter it."""

    def __init__(self, event_type: str, version: int, latest: int) -> None:
        super().__init__(
            f"{event_type} schema version {version} is not supported (known: 1..{latest})"
        )
        self.event_type = event_type
        self.version = version
        self.latest = latest


class ContractViolation(ContractError, ValueError):
    """A payload or envelope does not match its schema; `messages` maps field -> reasons."""

    def __init__(self, subject: str, messages: dict[str, Any] | list[Any] | str) -> None:
        super().__init__(f"{subject} violates its contract: {messages}")
        self.subject = subject
        self.messages = messages
