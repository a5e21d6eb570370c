"""Fixtures for event store tests: a migrated database per module, a pool and stores on it."""

from __future__ import annotations

import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore import EventStore
from tests.support.eventstore import SCHEMA


@pytest.fixture(scope="module")
def store(pool: ConnectionPool) -> EventStore:
    return EventStore(pool, SCHEMA)
