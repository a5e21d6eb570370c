"""Audit's /metrics: whether its ledger verifies (1, then 0 once tampered), and its detections."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pika
import psycopg
import pytest
import requests

from contracts.registry import REGISTRY
from services.common.broker import queue_name
from tests.contract.examples import EXAMPLES
from tests.integration.audit.world import World
from tests.integration.metrics.scrape import metric, wait_for_metric
from tests.support.amqp import connect
from tests.support.poll import eventually
from tests.support.processes import wait_for_queue

TOKEN = "metrics-test-admin-token"  # identity's bootstrap admin: verify asks identity
OK, AT = "carnet_audit_ledger_verify_ok", "carnet_audit_ledger_verify_timestamp_seconds"


def count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


@pytest.fixture
def audit(fresh_migrated_database_url, fresh_broker) -> Iterator[tuple[World, str]]:
    world = World(fresh_migrated_database_url, fresh_broker)
    try:
        yield world, world.start_service(TOKEN, AUDIT_TAIL_VERIFY_SECONDS=0.3)
    finally:
        world.close()


def full_verify(base: str) -> dict:
    r = requests.get(
        f"{base}/v1/audit/verify", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_ledger_verify_metrics_turn_to_0_when_a_row_is_tampered(audit):
    world, base = audit
    url = world.database_url
    checkpointed = metric(
        base, "carnet_events_appended_total", service="audit", event_type="LedgerCheckpointed"
    )
    world.emit_many(12)
    eventually(lambda: count(url, "SELECT count(*) FROM audit.ledger") >= 12, 60, "ledger")
    eventually(lambda: count(url, "SELECT count(*) FROM audit.checkpoints") >= 1, 60, "checkpoint")
    # The checkpoint's event was appended in the checkpoint's transaction: counted on commit.
    wait_for_metric(
        base,
        "carnet_events_appended_total",
        lambda v: (v or 0) > checkpointed,
        service="audit",
        event_type="LedgerCheckpointed",
    )

    started = time.time()
    wait_for_metric(base, AT, lambda v: (v or 0) > started, scope="tail")
    assert metric(base, OK, scope="tail") == 1
    assert full_verify(base)["ok"] is True
    assert metric(base, OK, scope="full") == 1

    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # past the triggers
        conn.execute(
            "UPDATE audit.ledger SET payload = payload || '{\"tampered\": true}'"
            " WHERE seq = (SELECT max(seq) FROM audit.ledger)"
        )
    tampered_at = time.time()
    wait_for_metric(base, OK, lambda v: v == 0, scope="tail")
    assert metric(base, AT, scope="tail") >= tampered_at
    report = full_verify(base)
    assert report["ok"] is False and "hash_mismatch" in {f["kind"] for f in report["findings"]}
    assert metric(base, OK, scope="full") == 0


def publish_reach_denial(amqp_uri: str, connector: str) -> None:
    """Booking's access record of a read refused as outside the connector's grants."""
    event_id = str(uuid.uuid4())
    data = {
        **EXAMPLES["AppointmentsAccessed"],
        "access_id": str(uuid.uuid4()),
        "principal_id": connector,
        "connector_id": connector,
        "appointment_ids": [],
        "patient_ids": [],
        "practitioner_ids": [],
        "entries": [],
        "field_classes": [],
        "result_count": 0,
        "outcome": "denied",
        "denial_reason": "no read grant on this practitioner's agenda",
        "denial_code": "reach",
    }
    body = json.dumps(REGISTRY.dump_payload("AppointmentsAccessed", data)).encode()
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=event_id,
        type="AppointmentsAccessed",
        app_id="booking",
        correlation_id=f"corr-{event_id}",
        headers={
            "schema_version": REGISTRY.latest_version("AppointmentsAccessed"),
            "stream": f"access-{event_id}",
            "stream_version": 1,
            "position": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    )
    with connect(amqp_uri) as conn:
        routing_key = REGISTRY.contract("AppointmentsAccessed").routing_key
        conn.channel().basic_publish("booking.events", routing_key, body, props)


def test_a_detection_is_counted_on_audit_metrics_once_committed(audit):
    world, base = audit
    wait_for_queue(world.amqp_uri, queue_name("audit", "detect_accesses"))
    labels = {"rule": "D4_outside_grants"}
    fired = metric(base, "carnet_audit_suspicious_access_detected_total", **labels)
    detected = metric(
        base,
        "carnet_events_appended_total",
        service="audit",
        event_type="SuspiciousAccessDetected",
    )
    publish_reach_denial(world.amqp_uri, str(uuid.uuid4()))
    wait_for_metric(
        base,
        "carnet_audit_suspicious_access_detected_total",
        lambda v: (v or 0) == fired + 1,
        **labels,
    )
    assert (
        metric(
            base,
            "carnet_events_appended_total",
            service="audit",
            event_type="SuspiciousAccessDetected",
        )
        == detected + 1
    )
    stored = count(
        world.database_url,
        "SELECT count(*) FROM audit.events WHERE event_type = 'SuspiciousAccessDetected'",
    )
    assert stored == 1
