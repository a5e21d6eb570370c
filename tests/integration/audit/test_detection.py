"""Detection on real PostgreSQL, as carnet_audit: windows, findings, evidence, exactly once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from contracts.booking_access import denial_code_of
from contracts.registry import REGISTRY
from services.audit.detection import engine
from services.common.consumed import ConsumedEvent
from services.common.eventstore.store import EventStore
from tests.contract.examples import EXAMPLES

T0 = datetime(2030, 1, 3, 10, 0, tzinfo=UTC)
PRODUCER = {"TokenIssued": "identity", "AuthenticationFailed": "identity"}
# Every read here returns fresh patients, none booked: keep D2 out of the other rules' tests.
QUIET_D2 = {"AUDIT_D2_MIN_PATIENTS": "1000000", "AUDIT_D2_ABSOLUTE_CAP": "1000000"}


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    """The audit service's role, so the migration's grants are what is tested."""
    role_url = migrated_database_url.replace("postgres@", "carnet_audit@", 1)
    with ConnectionPool(role_url, min_size=1, max_size=10, open=True) as p:
        yield p


@pytest.fixture(scope="module")
def store(pool: ConnectionPool) -> EventStore:
    return EventStore(pool, "audit")


def consumed(event_type: str, data: dict[str, Any], at: datetime) -> ConsumedEvent:
    """What the consumer hands the engine: validated as produced, loaded as consumed."""
    version = REGISTRY.latest_version(event_type)
    raw = REGISTRY.dump_payload(event_type, data)
    return ConsumedEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=version,
        producer=PRODUCER.get(event_type, "booking"),
        stream=f"test-{uuid.uuid4()}",
        stream_version=1,
        position=1,
        correlation_id=f"corr-{uuid.uuid4().hex[:8]}",
        causation_id=None,
        occurred_at=at.isoformat(),
        payload=REGISTRY.load_payload(event_type, version, raw),
        raw_payload=raw,
    )


def access(
    connector: uuid.UUID,
    at: datetime,
    returned: int = 1,
    address: str = "198.51.100.7",
    practitioner: uuid.UUID | None = None,
    patients: list[uuid.UUID] | None = None,
    **changes: Any,
) -> ConsumedEvent:
    """A connector's access record returning `returned` fresh appointments (or `patients`)."""
    practitioner = practitioner or uuid.uuid4()
    patients = patients if patients is not None else [uuid.uuid4() for _ in range(returned)]
    appointments = [uuid.uuid4() for _ in patients]
    data = {
        **EXAMPLES["AppointmentsAccessed"],
        "access_id": str(uuid.uuid4()),
        "principal_id": str(connector),
        "connector_id": str(connector),
        "network_address": address,
        "appointment_ids": [str(a) for a in appointments],
        "patient_ids": [str(p) for p in dict.fromkeys(patients)],
        "practitioner_ids": [str(practitioner)] if patients else [],
        "entries": [
            {"appointment_id": str(a), "patient_id": str(p), "practitioner_id": str(practitioner)}
            for a, p in zip(appointments, patients, strict=True)
        ],
        "result_count": len(appointments),
        **changes,
    }
    return consumed("AppointmentsAccessed", data, at)


def denied(connector: uuid.UUID, at: datetime, reason: str, **changes: Any) -> ConsumedEvent:
    return access(
        connector,
        at,
        patients=[],
        outcome="denied",
        denial_reason=reason,
        denial_code=denial_code_of(reason),
        field_classes=[],
        **changes,
    )


def detections(pool: ConnectionPool, connector: uuid.UUID) -> list[dict[str, Any]]:
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT data, metadata, schema_version FROM audit.events "
            "WHERE event_type = 'SuspiciousAccessDetected' AND data->>'principal_id' = %s "
            "ORDER BY position",
            (str(connector),),
        ).fetchall()
    return rows


def run(pool, store, events, **config) -> list[engine.Detection]:
    found = []
    for event in events:
        found += engine.handle(pool, store, {**QUIET_D2, **config}, event)
    return found


def test_d1_fires_once_above_the_floor_with_evidence(pool, store):
    c = uuid.uuid4()
    at = [T0 + timedelta(seconds=10 * i) for i in range(8)]
    assert run(pool, store, [access(c, at[i], returned=50) for i in range(4)]) == []  # 200
    tipping = access(c, at[4], returned=1, address="198.51.100.8")
    fired = run(pool, store, [tipping])  # a second address, too: D5 fires alongside
    assert [d.finding.rule for d in fired] == ["D1_volume", "D5_new_address"]
    assert run(pool, store, [access(c, t, returned=100) for t in at[5:]]) == []  # cooldown

    rows = {r["data"]["rule"]: r for r in detections(pool, c)}
    assert len(rows) == 2
    row = rows["D1_volume"]
    data, evidence = row["data"], row["data"]["evidence"]
    assert row["schema_version"] == 3 and data["rule"] == "D1_volume"
    assert data["connector_id"] == str(c) and data["recommended_action"] == "suspend"
    assert evidence["window_start"].startswith("2030-01-03T09:51:00")
    assert evidence["window_end"].startswith("2030-01-03T10:01:00")
    assert (evidence["access_count"], evidence["observed"], evidence["threshold"]) == (5, 201, 200)
    assert evidence["distinct_patients"] == 201 and evidence["distinct_appointments"] == 201
    assert evidence["baseline"] is None and 1 <= len(evidence["access_ids"]) <= 20
    assert set(evidence["network_addresses"]) == {"198.51.100.7", "198.51.100.8"}
    assert "201 appointments" in evidence["summary"]
    assert row["metadata"]["causation_id"] == str(tipping.event_id)
    assert row["metadata"]["correlation_id"] == tipping.correlation_id


def test_d1_judges_a_principal_against_its_own_baseline(pool, store):
    c = uuid.uuid4()
    # 100 per 10 minutes for the two hours before the window [09:51, 10:01): baseline 100.
    history = [access(c, T0 - timedelta(minutes=m), returned=100) for m in range(19, 130, 10)]
    assert len(history) == 12 and run(pool, store, history) == []
    # 1,000 in pages of 100 (a record holds a page at most): the threshold, 10 x 100, not above.
    assert run(pool, store, [access(c, T0, returned=100) for _ in range(10)]) == []
    [fired] = run(pool, store, [access(c, T0 + timedelta(seconds=5), returned=1)])
    assert fired.finding.threshold == 1000 and fired.finding.tally.baseline == pytest.approx(100)


def test_redelivery_of_the_same_event_changes_nothing(pool, store):
    c = uuid.uuid4()
    run(pool, store, [access(c, T0, returned=200)])
    tipping = access(c, T0 + timedelta(seconds=1), returned=1)
    assert len(run(pool, store, [tipping])) == 1
    assert run(pool, store, [tipping, tipping]) == []
    assert len(detections(pool, c)) == 1
    with pool.connection() as conn:
        (returned,) = conn.execute(
            "SELECT sum(returned) FROM audit.detection_buckets WHERE subject_id = %s", (c,)
        ).fetchone()
    assert returned == 201


def test_concurrent_events_of_one_principal_fire_exactly_once(pool, store):
    c = uuid.uuid4()
    events = [access(c, T0 + timedelta(seconds=i % 50), returned=10) for i in range(40)]

    def worker(part):
        run(pool, store, part)

    threads = [threading.Thread(target=worker, args=(events[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [row] = detections(pool, c)
    assert row["data"]["rule"] == "D1_volume" and row["data"]["evidence"]["observed"] == 210


def test_d3_one_read_outside_the_grants(pool, store):
    c = uuid.uuid4()
    assert (
        run(pool, store, [denied(c, T0, "only an admin may erase a patient's medical data")]) == []
    )
    refused = denied(c, T0 + timedelta(seconds=1), "no read grant on this practitioner's agenda")
    [fired] = run(pool, store, [refused])
    assert fired.finding.rule == "D3_outside_grant"
    evidence = detections(pool, c)[0]["data"]["evidence"]
    assert evidence["access_ids"] == [str(refused.payload["access_id"])]
    assert (evidence["observed"], evidence["threshold"]) == (1, 0)


def test_d4_refused_reads_and_failed_sign_ins_of_one_connector(pool, store):
    c = uuid.uuid4()
    failure = {**EXAMPLES["AuthenticationFailed"], "connector_id": str(c)}
    events = [
        consumed("AuthenticationFailed", {**failure, "attempt_id": str(uuid.uuid4())}, T0)
        for _ in range(2)
    ]
    events.append(denied(c, T0 + timedelta(seconds=2), "only an admin may erase it"))
    assert run(pool, store, events, AUDIT_D4_MAX_FAILURES="3") == []
    last = consumed("AuthenticationFailed", {**failure, "attempt_id": str(uuid.uuid4())}, T0)
    [fired] = run(pool, store, [last], AUDIT_D4_MAX_FAILURES="3")
    assert fired.finding.rule == "D4_probing" and fired.finding.observed == 4
    assert detections(pool, c)[0]["data"]["recommended_action"] == "suspend"


def test_d5_first_address_is_the_baseline_a_new_one_fires(pool, store):
    c = uuid.uuid4()
    token = {**EXAMPLES["TokenIssued"], "principal_id": str(c), "connector_id": str(c)}
    first = consumed("TokenIssued", {**token, "network_address": "192.0.2.1"}, T0)
    assert (
        run(pool, store, [first, access(c, T0 + timedelta(seconds=1), address="192.0.2.1")]) == []
    )
    [fired] = run(pool, store, [access(c, T0 + timedelta(seconds=2), address="203.0.113.5")])
    assert fired.finding.rule == "D5_new_address"
    evidence = detections(pool, c)[0]["data"]["evidence"]
    assert evidence["network_addresses"][0] == "203.0.113.5"
    assert "192.0.2.1" in evidence["network_addresses"]
    again = consumed("TokenIssued", {**token, "network_address": "203.0.113.6"}, T0)
    assert run(pool, store, [again]) == []  # cooldown: one D5 per connector per window


def test_d2_patients_read_out_of_proportion_to_bookings(pool, store):
    c, practitioner = uuid.uuid4(), uuid.uuid4()
    booked = [uuid.uuid4() for _ in range(2)]
    bookings = [
        consumed(
            "AppointmentBooked",
            {
                **EXAMPLES["AppointmentBooked"],
                "appointment_id": str(uuid.uuid4()),
                "practitioner_id": str(practitioner),
                "patient_id": str(p),
            },
            T0 - timedelta(days=3),
        )
        for p in booked
    ]
    config = {"AUDIT_D2_MIN_PATIENTS": "0", "AUDIT_D1_MIN_VOLUME": "1000"}
    assert run(pool, store, bookings, **config) == []
    reads = [*booked, uuid.uuid4(), uuid.uuid4()]  # 4 = 2 x 2 booked: tolerated
    assert (
        run(pool, store, [access(c, T0, practitioner=practitioner, patients=reads)], **config) == []
    )
    tipping = access(
        c, T0 + timedelta(seconds=1), practitioner=practitioner, patients=[uuid.uuid4()]
    )
    [fired] = run(pool, store, [tipping], **config)
    assert fired.finding.rule == "D2_patient_spread"
    assert fired.finding.tally.booked_patients == 2 and fired.finding.observed == 5
    assert detections(pool, c)[0]["data"]["recommended_action"] == "review"


def test_d6_deep_paging(pool, store):
    c = uuid.uuid4()
    page = "GET /fhir/Appointment?practitioner=x&_count=100"
    events = [access(c, T0 + timedelta(seconds=i), query=page) for i in range(2)]
    events.append(access(c, T0 + timedelta(seconds=3), query="GET /fhir/Appointment?_count=5"))
    assert run(pool, store, events, AUDIT_D6_MAX_PAGES="2") == []
    cursor = access(c, T0 + timedelta(seconds=4), query=page + "&_cursor=abc")
    [fired] = run(pool, store, [cursor], AUDIT_D6_MAX_PAGES="2")
    assert fired.finding.rule == "D6_deep_paging" and fired.finding.observed == 3


def test_disabled_detection_claims_nothing(pool, store):
    c = uuid.uuid4()
    event = access(c, T0, returned=500)
    assert run(pool, store, [event], AUDIT_DETECTION_ENABLED="false") == []
    with pool.connection() as conn:
        claimed = conn.execute(
            "SELECT 1 FROM audit.processed_events WHERE event_id = %s", (event.event_id,)
        ).fetchone()
    assert claimed is None and detections(pool, c) == []


def test_the_audit_role_cannot_touch_the_ledger_through_detection_grants(migrated_database_url):
    role_url = migrated_database_url.replace("postgres@", "carnet_audit@", 1)
    with psycopg.connect(role_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit.ledger")


def test_state_older_than_every_window_is_pruned(pool, store):
    c = uuid.uuid4()
    run(pool, store, [access(c, T0 - timedelta(days=3), returned=3)])
    run(pool, store, [access(c, T0 - timedelta(hours=3), returned=2)])
    run(pool, store, [access(c, T0, returned=1)])
    with pool.connection() as conn:
        counts = conn.execute(
            "SELECT (SELECT sum(returned) FROM audit.detection_buckets WHERE subject_id = %(c)s),"
            " (SELECT count(*) FROM audit.detection_items"
            "  WHERE subject_id = %(c)s AND kind = 'appointment'),"
            " (SELECT count(*) FROM audit.detection_addresses WHERE subject_id = %(c)s)",
            {"c": c},
        ).fetchone()
    # Counters within D1's baseline reach stay (2 + 1); sets only within the longest window (1);
    # the address is remembered for good.
    assert counts == (3, 1, 1)
