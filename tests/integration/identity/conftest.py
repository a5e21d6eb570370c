"""Identity against the real PostgreSQL: use cases directly (the service has world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore.store import EventStore
from services.identity.context import Actor, Ctx
from services.identity.settings import BOOTSTRAP_ADMIN_ID, Settings
from tests.security.db_privileges import as_role
from tests.support.stack import ADMIN_TOKEN


@pytest.fixture
def ctx(pool: ConnectionPool) -> Ctx:
    return Ctx(pool, EventStore(pool, "identity"), Settings(admin_token=ADMIN_TOKEN))


@pytest.fixture(scope="module")
def role_pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    """Logged in as identity's own role, as the service is: its grants are tested too."""
    url = as_role(migrated_database_url, "carnet_identity")
    with ConnectionPool(url, min_size=1, max_size=6, open=True) as p:
        yield p


@pytest.fixture
def admin() -> Actor:
    return Actor(BOOTSTRAP_ADMIN_ID, "staff", "admin")
