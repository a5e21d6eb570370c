"""What every booking use case gets: pool, store, keys, access recorder, settings, clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.booking.access import AccessRecorder
from services.booking.crypto import KeyRing
from services.booking.quota import Quotas, quotas_from_config
from services.common.eventstore.decided import new_events
from services.common.eventstore.decided import retrying as _retrying
from services.common.eventstore.store import EventStore

T = TypeVar("T")


def utcnow() -> datetime:
    """The wall clock in UTC (tests may fix it through Ctx)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Settings:
    """Paging, the body limit, the public base URL and the read quotas, from config."""

    max_page: int = 100
    default_page: int = 20
    max_body_bytes: int = 64 * 1024
    public_base_url: str = ""
    token_url: str = "http://127.0.0.1:8001/oauth/token"  # noqa: S105 (identity's token endpoint URL)
    quotas: Quotas | None = None  # None: reads are not metered (use-case tests, the bench)


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """BOOKING_* keys (the principal cache's are IdentityAuth's: nameko_ext/identity_auth.py);
    ValueError names a quota key that is absent or unreadable."""
    return Settings(
        max_page=int(config.get("BOOKING_MAX_PAGE", 100)),
        public_base_url=str(config.get("BOOKING_PUBLIC_BASE_URL") or "").rstrip("/"),
        token_url=str(config.get("BOOKING_TOKEN_URL") or Settings.token_url),
        quotas=quotas_from_config(config),
    )


@dataclass
class Ctx:
    """The dependencies of a use case, handed over by service.py (or a test, or the bench)."""

    pool: Any
    store: EventStore
    keys: KeyRing
    recorder: AccessRecorder
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], datetime] = field(default=utcnow)


def retrying(work: Callable[[], T]) -> T:
    """Booking's units rerun more often: 50 bookings of one slot contend on one stream."""
    return _retrying(work, attempts=8)


__all__ = ["Ctx", "Settings", "new_events", "retrying", "settings_from_config", "utcnow"]
