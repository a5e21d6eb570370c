"""Identity against the real PostgreSQL: use cases directly (the service has world.py)."""

from __future__ import annotations

import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore.store import EventStore
from services.identity.context import Actor, Ctx
from services.identity.settings import BOOTSTRAP_ADMIN_ID, Settings
from tests.support.stack import ADMIN_TOKEN


@pytest.fixture
def ctx(pool: ConnectionPool) -> Ctx:
    return Ctx(pool, EventStore(pool, "identity"), Settings(admin_token=ADMIN_TOKEN))


@pytest.fixture
def admin() -> Actor:
    return Actor(BOOTSTRAP_ADMIN_ID, "staff", "admin")
