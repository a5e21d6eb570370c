"""What every identity use case gets: pool, store, settings, clock, and who is acting."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from contracts.registry import REGISTRY
from services.common.eventstore.models import ConcurrencyError, NewEvent
from services.common.eventstore.store import EventStore
from services.common.logging import current_ids
from services.identity.domain import Decided
from services.identity.settings import Settings

T = TypeVar("T")


def utcnow() -> datetime:
    """The wall clock in UTC (use cases take it from Ctx so tests can fix it)."""
    return datetime.now(UTC)


def _direct(fn: Callable[..., T], *args: Any) -> T:
    """Run in the caller's thread (tests, CLI)."""
    return fn(*args)


@dataclass(frozen=True)
class Actor:
    """An authenticated caller of identity's HTTP API."""

    principal_id: UUID
    kind: str
    role: str | None = None

    @property
    def is_admin(self) -> bool:
        """Staff admins (and the bootstrap admin) may act for anyone."""
        return self.kind == "staff" and self.role == "admin"


@dataclass
class Ctx:
    """The dependencies of a use case, handed over by service.py."""

    pool: Any
    store: EventStore
    settings: Settings
    clock: Callable[[], datetime] = field(default=utcnow)
    causation_id: str | None = None
    # Runs argon2 (≈0.25 s of CPU). service.py passes eventlet's tpool.execute so a hash runs
    # in an OS thread (cffi releases the GIL) instead of freezing every greenthread.
    offload: Callable[..., Any] = field(default=_direct)


def new_events(decided: Sequence[Decided], causation_id: str | None = None) -> list[NewEvent]:
    """Validate each decision against its contract and wrap it for the store."""
    metadata = {**current_ids()}
    if causation_id:
        metadata["causation_id"] = causation_id
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


def retrying(work: Callable[[], T], attempts: int = 5) -> T:
    """Rerun a load-decide-append unit when the stream moved under it (ConcurrencyError)."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except ConcurrencyError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
