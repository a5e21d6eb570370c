"""Instants held to the calendar Python can compute with: its edges are a 400, never a 500.

Python's datetime ends at 9999-12-31T23:59:59.999999 and begins at 0001-01-01, in UTC too:
`9999-12-31T23:00:00-05:00` is a valid ISO 8601 text, but comparing it with another instant,
or adding a microsecond to the last one, raises OverflowError. Every instant a client sends is
brought to UTC here (outside the calendar: Invalid naming the parameter), and a bound moved
past the end becomes an open bound instead of an error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.common.errors import Invalid


def in_utc(when: datetime, what: str, code: str | None = None) -> datetime:
    """The same instant in UTC, or Invalid: before year 1 or after 9999 once in UTC."""
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise Invalid(f"{what} is outside the years 1 to 9999 in UTC", code=code) from None


def moved(when: datetime, delta: timedelta) -> datetime | None:
    """`when + delta`, or None when that falls past the calendar: an open bound."""
    try:
        return when + delta
    except OverflowError:
        return None
