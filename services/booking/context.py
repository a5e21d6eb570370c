"""What every booking use case gets: pool, store, keys, access recorder, settings, clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from contracts.registry import REGISTRY
from services.booking.access import AccessRecorder
from services.booking.crypto import KeyRing
from services.common.eventstore.models import ConcurrencyError, NewEvent
from services.common.eventstore.store import EventStore
from services.common.logging import current_ids

T = TypeVar("T")


def utcnow() -> datetime:
    """The wall clock in UTC (tests may fix it through Ctx)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Settings:
    """Paging, body limits and the principal cache's lifetime, from config."""

    max_page: int = 100
    default_page: int = 20
    max_body_bytes: int = 64 * 1024
    principal_ttl_s: float = 0.5
    identity_timeout_s: float = 5.0
    public_base_url: str = ""


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """BOOKING_* keys; keep the principal TTL under a second: the bound if an event is missed."""
    return Settings(
        max_page=int(config.get("BOOKING_MAX_PAGE", 100)),
        principal_ttl_s=float(config.get("BOOKING_PRINCIPAL_TTL_SECONDS", 0.5)),
        identity_timeout_s=float(config.get("BOOKING_IDENTITY_TIMEOUT_SECONDS", 5.0)),
        public_base_url=str(config.get("BOOKING_PUBLIC_BASE_URL") or "").rstrip("/"),
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


def new_events(decided: Sequence[tuple[str, dict[str, Any]]]) -> list[NewEvent]:
    """Validate each decision against its contract (JSON form out) and wrap it for the store."""
    metadata = dict(current_ids())
    return [
        NewEvent(
            event_id=uuid.uuid4(),
            event_type=event_type,
            schema_version=REGISTRY.latest_version(event_type),
            data=REGISTRY.dump_payload(event_type, payload),
            metadata=metadata,
        )
        for event_type, payload in decided
    ]


def retrying(work: Callable[[], T], attempts: int = 8) -> T:
    """Rerun a load-decide-append unit when a stream moved under it."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except ConcurrencyError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
