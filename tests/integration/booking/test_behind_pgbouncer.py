"""Identity and booking with their pools behind PgBouncer's transaction pooling and the relay
on a direct session (DATABASE_POOLER=pgbouncer-transaction, docs/deploy.md): bookings, repeated
reads and their access records work, and the relay still publishes (#24 item 5)."""

from __future__ import annotations

import psycopg
import pytest

from services.common.config import service_database_url
from tests.integration.booking.world import World
from tests.support import pgbouncer as bouncer
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN

pytestmark = pytest.mark.skipif(
    bouncer.binary() is None, reason="pgbouncer is not installed (scripts/ensure-tools.sh)"
)


def behind(url: str, direct: str, service: str) -> dict[str, str]:
    """The config that puts `service`'s pool behind the bouncer and its relay on PostgreSQL."""
    return {
        "DATABASE_URL": service_database_url(url, service, {}),
        "RELAY_DATABASE_URL": service_database_url(direct, service, {}),
        "DATABASE_POOLER": "pgbouncer-transaction",
    }


@pytest.fixture
def world(fresh_migrated_database_url, fresh_broker):
    with bouncer.pgbouncer(fresh_migrated_database_url) as url:
        direct = fresh_migrated_database_url
        w = World(
            direct,
            fresh_broker,
            {"identity": behind(url, direct, "identity")},
            **behind(url, direct, "booking"),
        ).start()
        try:
            yield w
        finally:
            w.close()


def test_bookings_and_recorded_reads_work_through_transaction_pooling(world):
    practitioner, patient = world.practitioner(), world.patient()
    slots = world.open_slots(practitioner, count=2)
    booked = [world.book(ADMIN_TOKEN, slot, patient) for slot in slots]
    assert [r.status_code for r in booked] == [201, 201], [r.text for r in booked]
    appointment = booked[0].json()["id"]
    # psycopg prepares a statement server-side after 5 runs: PgBouncer 1.18 in transaction
    # mode then hands the next transaction a server without it. Ten reads cross that line.
    reads = [world.request("GET", f"/fhir/Appointment/{appointment}", ADMIN_TOKEN)
             for _ in range(10)]  # fmt: skip
    assert [r.status_code for r in reads] == [200] * 10, reads[-1].text

    def published() -> bool:
        with psycopg.connect(world.database_url) as conn:
            row = conn.execute(
                "SELECT (SELECT max(position) FROM booking.events),"
                " (SELECT max(position) FROM booking.relay_position)"
            ).fetchone()
        return row[0] is not None and row[0] == row[1]

    with psycopg.connect(world.database_url) as conn:
        accesses = conn.execute(
            "SELECT count(*) FROM booking.events WHERE event_type = 'AppointmentsAccessed'"
        ).fetchone()[0]
    assert accesses >= 10
    eventually(published, 30, "booking's relay to publish its whole log")
