"""The audit service end to end: consumes every exchange, checkpoints, serves verify."""

from __future__ import annotations

import psycopg
import pytest
import requests
from nameko.runners import ServiceRunner

from services.audit.service import AuditService
from services.audit.signing import SigningKeyError
from tests.integration.audit.world import World
from tests.support.poll import eventually

TOKEN = "test-admin-token-0123456789abcdef"  # identity's bootstrap admin: verify asks identity


def count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


@pytest.fixture
def service_world(fresh_migrated_database_url, fresh_broker):
    w = World(fresh_migrated_database_url, fresh_broker)
    base = w.start_service(TOKEN, AUDIT_VERIFY_GRACE_SECONDS=0)
    yield w, base
    w.close()


def test_events_of_every_service_are_ledgered_checkpointed_and_verified(service_world):
    world, base = service_world
    # The queues exist once the service started; events appended now reach them.
    world.emit_many(20)
    url = world.database_url
    eventually(lambda: count(url, "SELECT count(*) FROM audit.ledger") >= 20, 30, "ledger")
    eventually(lambda: count(url, "SELECT count(*) FROM audit.checkpoints") >= 1, 30, "checkpoint")
    # The checkpoint's own event comes back through audit.events into the ledger.
    eventually(
        lambda: (
            count(url, "SELECT count(*) FROM audit.ledger WHERE event_type = 'LedgerCheckpointed'")
            >= 1
        ),
        30,
        "checkpoint event ledgered",
    )
    assert (
        count(url, "SELECT count(*) FROM audit.events WHERE event_type = 'LedgerCheckpointed'") >= 1
    )
    assert requests.get(f"{base}/v1/audit/verify", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    response = requests.get(f"{base}/v1/audit/verify", headers=wrong, timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    ok = {"Authorization": f"Bearer {TOKEN}"}
    eventually(
        lambda: requests.get(f"{base}/v1/audit/verify", headers=ok, timeout=30).json()["ok"],
        30,
        "verify ok",
    )
    report = requests.get(f"{base}/v1/audit/verify", headers=ok, timeout=30).json()
    assert report["checkpoints_checked"] >= 1 and report["first_bad_seq"] is None
    assert report["sources_checked"]["booking"] == 5


def test_the_service_refuses_to_start_without_a_signing_key(fresh_database_url, broker):
    runner = ServiceRunner(
        {"AMQP_URI": broker, "DATABASE_URL": fresh_database_url, "AUDIT_SIGNING_KEY": ""}
    )
    runner.add_service(AuditService)
    with pytest.raises(SigningKeyError, match="AUDIT_SIGNING_KEY is not set"):
        runner.start()
    runner.kill()
