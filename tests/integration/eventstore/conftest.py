"""Fixtures for event store tests: a migrated database per module, a pool and stores on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore import EventStore
from tests.support.eventstore import SCHEMA


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(migrated_database_url, min_size=1, max_size=8, open=True) as p:
        yield p


@pytest.fixture(scope="module")
def store(pool: ConnectionPool) -> EventStore:
    return EventStore(pool, SCHEMA)
