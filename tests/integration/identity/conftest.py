"""Identity against the real PostgreSQL: use cases directly (the service has world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore.store import EventStore
from services.identity.context import Actor, Ctx
from services.identity.settings import BOOTSTRAP_ADMIN_ID, Settings

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    p = ConnectionPool(migrated_database_url, min_size=1, max_size=4)
    yield p
    p.close()


@pytest.fixture
def ctx(pool: ConnectionPool) -> Ctx:
    return Ctx(pool, EventStore(pool, "identity"), Settings(admin_token=ADMIN_TOKEN))


@pytest.fixture
def admin() -> Actor:
    return Actor(BOOTSTRAP_ADMIN_ID, "staff", "admin")


def identity_events(database_url: str, event_type: str | None = None) -> list[dict]:
    """Payloads in identity's store, oldest first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event_type, data FROM identity.events"
            " WHERE %(t)s::text IS NULL OR event_type = %(t)s ORDER BY position",
            {"t": event_type},
        ).fetchall()
    return [{"type": t, **d} for t, d in rows]
