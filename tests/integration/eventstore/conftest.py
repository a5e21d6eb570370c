"""Fixtures for event store tests: a migrated database per module, a pool and stores on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore import EventStore, NewEvent
from tests.support.poll import eventually

SCHEMA = "booking"


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


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(migrated_database_url, min_size=1, max_size=8, open=True) as p:
        yield p


@pytest.fixture(scope="module")
def store(pool: ConnectionPool) -> EventStore:
    return EventStore(pool, SCHEMA)


def wait_until_readable(store: EventStore, position: int, timeout: float = 30.0) -> None:
    """Committed is not yet readable while an older writing transaction runs anywhere on the
    server (ADR 0003): other test runs on a shared server can hold readers back briefly."""
    eventually(lambda: store.head().position >= position, timeout, f"position {position}")
