"""A booking replica holds at most its pool's DATABASE_POOL_MAX_SIZE plus the relay's three
sessions, each named in pg_stat_activity (docs/deploy.md "Connections", #24 item 2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from services.common.instance import instance_id
from tests.integration.booking.world import World
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN

POOL_MAX = 3
RELAY_SESSIONS = 3  # leadership, LISTEN, position: the leader's (docs/deploy.md)


@pytest.fixture
def world(fresh_migrated_database_url, fresh_broker):
    w = World(fresh_migrated_database_url, fresh_broker, DATABASE_POOL_MAX_SIZE=POOL_MAX).start()
    yield w
    w.close()


def held(url: str) -> dict[str, int]:
    """booking's connections to this database now, by application_name role."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'booking:%'"
            " GROUP BY application_name"
        ).fetchall()
    return dict(rows)


def test_a_busy_replica_stays_within_its_budget_and_names_every_connection(world):
    me = instance_id()
    pool, relay = f"booking:pool:{me}", f"booking:relay:{me}"
    eventually(lambda: held(world.database_url).get(relay, 0) == RELAY_SESSIONS, 30, "relay")
    peak: dict[str, int] = {}

    def read(_: int) -> int:
        r = world.request("GET", "/fhir/Appointment", ADMIN_TOKEN, params={"_count": "10"})
        for name, n in held(world.database_url).items():
            peak[name] = max(peak.get(name, 0), n)
        return r.status_code

    with ThreadPoolExecutor(12) as workers:  # more requests at once than the pool holds
        statuses = list(workers.map(read, range(60)))
    assert set(statuses) == {200}, statuses
    assert set(peak) == {pool, relay}, peak  # nothing unnamed, nothing else
    assert peak[pool] <= POOL_MAX and peak[relay] == RELAY_SESSIONS, peak
