"""Event store test helpers: throwaway events and streams, side connections, readability."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from services.common.eventstore import EventStore, NewEvent
from tests.support.poll import eventually

SCHEMA = "booking"  # the store the event store tests write to


def event(event_type: str = "SlotsOpened", **data: Any) -> NewEvent:
    """A fresh event with obviously fake data; the store does not care about contracts."""
    return NewEvent(uuid.uuid4(), event_type, 1, data or {"n": 1}, {"correlation_id": "c-1"})


def stream() -> str:
    """A stream id no other test uses."""
    return f"appointment-{uuid.uuid4().hex[:12]}"


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection of its own, outside the pool (for interleaving transactions by hand)."""
    return psycopg.connect(url, **kwargs)


def as_role(url: str, role: str) -> str:
    """The same database, as another role (the server trusts local connections)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{role}@{rest.partition('@')[2]}"


def wait_until_readable(store: EventStore, position: int, timeout: float = 30.0) -> None:
    """Committed is not yet readable while an older writing transaction runs anywhere on the
    server (ADR 0003): other test runs on a shared server can hold readers back briefly."""
    eventually(lambda: store.head().position >= position, timeout, f"position {position}")
