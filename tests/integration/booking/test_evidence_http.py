"""Every attempt is evidence, over HTTP (ADR 0014): a refused token, an unknown id, a read
outside reach each leave an AppointmentsAccessed V3 record before the answer goes out, naming
what they aimed at; never the token, only its fingerprint."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from services.common.principals import token_fingerprint
from tests.integration.booking.world import World
from tests.support.stack import ADMIN_TOKEN

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def agenda(world: World) -> dict:
    """Two practitioners, two patients with one appointment each on the first agenda, a
    connector reading that agenda, and a free slot on the second."""
    p1, p2 = world.practitioner(), world.practitioner("cardiology")
    alice, bob = world.patient(), world.patient()
    slots = world.open_slots(p1, count=3)
    booked = {}
    for patient, slot in ((alice, slots[0]), (bob, slots[1])):
        r = world.book(ADMIN_TOKEN, slot, patient, None)
        assert r.status_code == 201, r.text
        booked[patient] = r.json()["id"]
    return {
        "p1": p1,
        "alice": alice,
        "bob": bob,
        "booked": booked,
        "free_elsewhere": world.open_slots(p2, count=1)[0],
        "reader": world.connector({p1: ["appointment:read"]}),
    }


def call(world: World, method: str, path: str, token: str | None, **kw):
    """The request with a request id of its own, and the one record it left (or None)."""
    rid = f"evidence-{uuid.uuid4()}"
    headers = {"X-Request-ID": rid, **kw.pop("headers", {})}
    r = world.request(method, path, token, headers=headers, **kw)
    found = [x for x in world.access_records().values() if x["request_id"] == rid]
    assert len(found) <= 1
    return r, (found[0] if found else None)


def refused_token(world: World, token: str, reason: str) -> None:
    r, record = call(world, "GET", "/fhir/Appointment", token)
    assert r.status_code == 401, r.text
    OperationOutcome.model_validate(r.json())
    assert record is not None, "a refused token left no record"
    assert (record["principal_kind"], record["principal_id"], record["connector_id"]) == (
        "unknown",
        None,
        None,
    )
    assert record["token_fingerprint"] == token_fingerprint(token)
    assert (record["outcome"], record["denial_code"]) == ("denied", "unauthenticated")
    assert record["denial_reason"] == f"token refused: {reason}"
    assert record["network_address"] == "127.0.0.1" and record["operation"] == "search"
    assert (record["appointment_ids"], record["targets"], record["result_count"]) == ([], [], 0)
    assert token not in str(record)


def test_a_made_up_token_leaves_a_record_with_its_fingerprint_and_no_principal(world, agenda):
    refused_token(world, f"made-up-{uuid.uuid4().hex}", "unknown")


def test_an_expired_token_leaves_one(world, agenda):
    token = world.person_token(agenda["alice"])
    with world.pool.connection() as conn:
        conn.execute(
            "UPDATE identity.tokens SET expires_at = now() - interval '1 second'"
            " WHERE token_hash = %s",
            (hashlib.sha256(token.encode()).digest(),),
        )
    refused_token(world, token, "expired")


def test_a_revoked_token_leaves_one(world, agenda):
    c = world.connector({agenda["p1"]: ["appointment:read"]})
    world.admin_post(f"/v1/connectors/{c['connector_id']}/rotate-secret", {})
    refused_token(world, c["token"], "revoked")


def test_a_suspended_connectors_token_leaves_one(world, agenda):
    c = world.connector({agenda["p1"]: ["appointment:read"]})
    world.admin_post(f"/v1/connectors/{c['connector_id']}/suspend", {})
    refused_token(world, c["token"], "suspended")


def test_no_token_at_all_leaves_one_without_a_fingerprint(world, agenda):
    aid = agenda["booked"][agenda["alice"]]
    r, record = call(world, "GET", f"/fhir/Appointment/{aid}", None)
    assert r.status_code == 401
    assert record["denial_code"] == "unauthenticated" and record["token_fingerprint"] is None
    assert record["principal_kind"] == "unknown" and record["operation"] == "read"


def test_an_id_that_does_not_exist_leaves_a_not_found_record(world, agenda):
    token, ghost = agenda["reader"]["token"], str(uuid.uuid4())
    for method, path, kw in (
        ("GET", f"/fhir/Appointment/{ghost}", {}),
        ("GET", "/fhir/Appointment/not-an-id", {}),
        ("PATCH", f"/fhir/Appointment/{ghost}", {
            "json": [{"op": "replace", "path": "/status", "value": "cancelled"}],
            "headers": {"Content-Type": "application/json-patch+json"},
        }),
    ):  # fmt: skip
        r, record = call(world, method, path, token, **kw)
        assert r.status_code == 404, r.text
        assert (record["outcome"], record["denial_code"]) == ("denied", "not_found")
        assert record["principal_id"] == agenda["reader"]["connector_id"]
        assert record["connector_id"] == agenda["reader"]["connector_id"]
        assert path in record["query"] and record["targets"] == []
        assert record["token_fingerprint"] == token_fingerprint(token)


def test_a_read_outside_reach_names_the_appointment_and_its_patient(world, agenda):
    bobs = agenda["booked"][agenda["bob"]]
    token = world.person_token(agenda["alice"])
    r, record = call(world, "GET", f"/fhir/Appointment/{bobs}", token)
    assert r.status_code == 403 and "contained" not in r.text
    assert (record["denial_code"], record["principal_id"]) == ("reach", agenda["alice"])
    assert record["targets"] == [
        {"appointment_id": bobs, "patient_id": agenda["bob"], "practitioner_id": agenda["p1"]}
    ]
    assert record["appointment_ids"] == [] and record["patient_ids"] == []


def test_a_change_outside_rights_names_its_target(world, agenda):
    alices = agenda["booked"][agenda["alice"]]
    target = {
        "appointment_id": alices,
        "patient_id": agenda["alice"],
        "practitioner_id": agenda["p1"],
    }
    patch = {"headers": {"Content-Type": "application/json-patch+json"}}
    arrived = [{"op": "replace", "path": "/status", "value": "arrived"}]
    # A connector that may read this agenda but not write it.
    r, record = call(world, "PATCH", f"/fhir/Appointment/{alices}", agenda["reader"]["token"],
                     json=arrived, **patch)  # fmt: skip
    assert r.status_code == 403
    assert (record["denial_code"], record["targets"]) == ("reach", [target])
    # The patient herself, within reach, marking her own attendance: not hers to say.
    token = world.person_token(agenda["alice"])
    r, record = call(world, "PATCH", f"/fhir/Appointment/{alices}", token, json=arrived, **patch)
    assert r.status_code == 403
    assert (record["denial_code"], record["targets"]) == ("forbidden", [target])
    assert record["operation"] == "update"


def test_a_booking_outside_reach_has_no_target_yet(world, agenda):
    body = {
        "resourceType": "Appointment",
        "status": "proposed",
        "slot": [{"reference": f"Slot/{agenda['free_elsewhere']}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{agenda['alice']}"}, "status": "accepted"}
        ],
    }
    token = agenda["reader"]["token"]
    r, record = call(world, "POST", "/fhir/Appointment", token, json=body, headers=FHIR)
    assert r.status_code == 403
    assert (record["denial_code"], record["targets"], record["operation"]) == (
        "reach",
        [],
        "create",
    )


def test_successes_carry_the_fingerprint_too(world, agenda):
    token = agenda["reader"]["token"]
    r, record = call(world, "GET", f"/fhir/Appointment?practitioner={agenda['p1']}", token)
    assert r.status_code == 200
    assert record["outcome"] == "success" and record["denial_code"] is None
    assert record["token_fingerprint"] == token_fingerprint(token)
    assert record["access_id"] == r.headers["X-Carnet-Access-Id"]


def test_bad_input_is_not_an_attempt_on_data(world, agenda):
    r, record = call(world, "GET", "/fhir/Appointment?date=soon", agenda["reader"]["token"])
    assert r.status_code == 400 and record is None
