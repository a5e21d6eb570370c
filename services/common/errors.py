"""Refusals a use case raises, by kind: the domain never knows HTTP; the edge maps kinds.

A kind is one word (`not_found`, `conflict` …); `code` is an optional finer word for the
caller (a FHIR issue type such as `value`, an identity code such as `invalid_scope`), which
the edge shows when its error format can carry it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A command or query the rules refuse: its kind, a sentence, maybe a finer code."""

    kind: ClassVar[str] = "invalid"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail, self.code = detail, code


class Invalid(DomainError):
    """Input that cannot be read: a malformed id, instant, field or parameter."""

    kind = "invalid"

    def __init__(
        self, detail: str, code: str | None = None, fields: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail, code)
        self.fields = fields  # per-field messages (marshmallow's), when a body was validated


class Unauthorized(DomainError):
    """No credential, or one that is unknown, expired, revoked or suspended."""

    kind = "unauthorized"


class Forbidden(DomainError):
    """The caller is known but may not do this here."""

    kind = "forbidden"


class NotFound(DomainError):
    """No such thing (or none the caller may learn of)."""

    kind = "not_found"


class Conflict(DomainError):
    """The state moved: a slot taken, a version test failed, done already."""

    kind = "conflict"


class NotAcceptable(DomainError):
    """The client asked for a format this server does not write (FHIR XML, Turtle...)."""

    kind = "not_acceptable"


class Unprocessable(DomainError):
    """Well-formed, but against a business rule (a slot in the past, an overlap)."""

    kind = "unprocessable"


class TooManyRequests(DomainError):
    """Over the caller's quota: nothing served, retry after `retry_after_s` (429)."""

    kind = "too_many_requests"

    def __init__(self, detail: str, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.retry_after_s = max(1, retry_after_s)


class Unavailable(DomainError):
    """A dependency cannot answer now (identity, the database, a stalled index): retry."""

    kind = "unavailable"

    def __init__(
        self, detail: str, code: str | None = None, retry_after_s: int | None = None
    ) -> None:
        super().__init__(detail, code)
        if retry_after_s is not None:
            self.retry_after_s = max(1, retry_after_s)  # the edge's Retry-After, when known


class TooLarge(DomainError):
    """More than the service reads or answers at once (a body, a page, a batch)."""

    kind = "too_large"


class Unsupported(DomainError):
    """A media type or feature this interface does not take."""

    kind = "unsupported"
