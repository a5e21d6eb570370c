"""What every identity use case gets: pool, store, settings, clock, and who is acting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from services.common.eventstore.decided import new_events, retrying
from services.common.eventstore.store import EventStore
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


__all__ = ["Actor", "Ctx", "new_events", "retrying", "utcnow"]
