"""Quotas over HTTP, with small limits: 429 with Retry-After and an OperationOutcome, the
refusal recorded; a failed attempt costs its address; identity's QuotaSet, published from its
log like any event, changes what booking lets through."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from services.common.eventstore.store import EventStore
from services.common.principals import token_fingerprint
from tests.integration.booking.world import World
from tests.support.events import new_event
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN

LIMITS = {
    "BOOKING_QUOTA_CONNECTOR": "1/6",
    "BOOKING_QUOTA_PATIENT": "1/4",
    "BOOKING_QUOTA_UNAUTHENTICATED": "1/3",
}


@pytest.fixture(scope="module")
def world(migrated_database_url: str, module_broker: str) -> Iterator[World]:
    """Booking with quotas small enough to exhaust (at 1 per hour, nothing refills)."""
    w = World(migrated_database_url, module_broker, **LIMITS).start()
    yield w
    w.close()


@pytest.fixture(scope="module")
def agenda(world: World) -> dict[str, Any]:
    doctor, patient = world.practitioner(), world.patient()
    slots = world.open_slots(doctor, count=5)
    booked = []
    for slot in slots[:3]:
        r = world.book(ADMIN_TOKEN, slot, patient, None)
        assert r.status_code == 201, r.text
        booked.append(r.json()["id"])
    return {"doctor": doctor, "patient": patient, "booked": booked, "free": slots[3:]}


def records_of(world: World, request_id: str) -> list[dict[str, Any]]:
    return [r for r in world.access_records().values() if r["request_id"] == request_id]


def throttled(world: World, r, request_id: str) -> dict[str, Any]:
    """A 429 as the edge answers it, and its one record."""
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    outcome = OperationOutcome.model_validate(r.json())
    assert outcome.issue[0].code == "throttled"
    (record,) = records_of(world, request_id)
    assert (record["outcome"], record["denial_code"]) == ("denied", "quota")
    return record


def test_a_patient_over_quota_gets_429_with_retry_after_and_it_is_recorded(world, agenda):
    token = world.person_token(agenda["patient"])
    path = f"/fhir/Appointment/{agenda['booked'][0]}"
    for _ in range(4):  # the burst
        assert world.request("GET", path, token).status_code == 200
    r = world.request("GET", path, token, headers={"X-Request-ID": "over-quota-1"})
    record = throttled(world, r, "over-quota-1")
    assert (record["principal_kind"], record["principal_id"]) == ("patient", agenda["patient"])
    assert record["token_fingerprint"] == token_fingerprint(token)
    assert "contained" not in r.text  # nothing read
    # An unknown id costs a token too (probing is charged): still 429, not 404.
    assert world.request("GET", f"/fhir/Appointment/{uuid.uuid4()}", token).status_code == 429


def test_a_search_is_charged_what_it_returned(world, agenda):
    c = world.connector({agenda["doctor"]: ["appointment:read", "appointment:write"]})
    path = f"/fhir/Appointment?practitioner={agenda['doctor']}"
    for _ in range(2):  # 3 appointments each: 6, the whole burst
        r = world.request("GET", path, c["token"])
        assert r.status_code == 200 and len(r.json()["entry"]) == 3
    r = world.request("GET", path, c["token"], headers={"X-Request-ID": "over-quota-2"})
    assert throttled(world, r, "over-quota-2")["principal_id"] == c["connector_id"]


def test_a_booking_over_quota_writes_nothing(world, agenda):
    c = world.connector({agenda["doctor"]: ["appointment:read", "appointment:write"]})
    r = world.request("GET", f"/fhir/Appointment?practitioner={agenda['doctor']}&_count=6",
                      c["token"])  # fmt: skip
    assert r.status_code == 200
    for _ in range(3):  # 3 tokens left: three reads
        assert world.request("GET", f"/fhir/Appointment/{agenda['booked'][0]}",
                             c["token"]).status_code == 200  # fmt: skip
    r = world.book(c["token"], agenda["free"][0], agenda["patient"], None)
    assert r.status_code == 429
    with world.pool.connection() as conn:
        held = conn.execute(
            "SELECT appointment_id FROM booking.slots WHERE slot_id = %s", (agenda["free"][0],)
        ).fetchone()[0]
    assert held is None
    # Asking for no answer reads nothing: the booking goes through.
    minimal = world.request(
        "POST",
        "/fhir/Appointment",
        c["token"],
        json={
            "resourceType": "Appointment",
            "status": "proposed",
            "slot": [{"reference": f"Slot/{agenda['free'][0]}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{agenda['patient']}"}, "status": "accepted"}
            ],
        },
        headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"},
    )
    assert minimal.status_code == 201 and minimal.content == b""


def test_failed_attempts_cost_their_address_not_an_honest_token(world, agenda):
    bogus = f"guessed-{uuid.uuid4().hex}"
    for _ in range(3):
        assert world.request("GET", "/fhir/Appointment", bogus).status_code == 401
    r = world.request("GET", "/fhir/Appointment", bogus, headers={"X-Request-ID": "guessing-4"})
    record = throttled(world, r, "guessing-4")
    assert (record["principal_kind"], record["principal_id"]) == ("unknown", None)
    assert record["token_fingerprint"] == token_fingerprint(bogus)
    assert world.request("GET", "/fhir/Appointment", None).status_code == 429
    # A valid token from the same address is its principal's business: still served.
    c = world.connector({agenda["doctor"]: ["appointment:read"]})
    assert world.request("GET", "/fhir/Appointment", c["token"]).status_code == 200


def test_identitys_quota_set_changes_the_bucket(world, agenda):
    c = world.connector({agenda["doctor"]: ["appointment:read"]})
    path = f"/fhir/Appointment/{agenda['booked'][1]}"
    assert world.request("GET", path, c["token"]).status_code == 200  # default burst: 6
    event = new_event(
        "QuotaSet",
        principal_id=c["connector_id"],
        principal_kind="connector",
        per_hour=1,
        burst=1,
        until=None,
        reason="operator",
        detection_id=None,
        set_by=str(uuid.uuid4()),
    )
    # As identity does: appended to its log, published by its relay, consumed by booking.
    EventStore(world.pool, "identity").append(f"quota-{c['connector_id']}", [event], None)
    eventually(lambda: quota_row(world, c["connector_id"]) is not None, what="QuotaSet applied")
    assert quota_row(world, c["connector_id"]) == (1, 1, "operator", event.event_id)
    # The 5 tokens left are clamped to the new burst: one more read, then none.
    assert world.request("GET", path, c["token"]).status_code == 200
    assert world.request("GET", path, c["token"]).status_code == 429


def quota_row(world: World, principal_id: str) -> tuple | None:
    with world.pool.connection() as conn:
        return conn.execute(
            "SELECT per_hour, burst, reason, updated_from_event FROM booking.quotas"
            " WHERE principal_id = %s",
            (principal_id,),
        ).fetchone()


def test_booking_refuses_to_start_with_a_quota_it_cannot_read(migrated_database_url, module_broker):
    w = World(migrated_database_url, module_broker, BOOKING_QUOTA_PATIENT="lots")
    with pytest.raises(RuntimeError, match="BOOKING_QUOTA_PATIENT must be '<per hour>/<burst>'"):
        w.start()
