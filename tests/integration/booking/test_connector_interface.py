"""The FHIR connector interface on the real database and bus: reach, recording, medical scope."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.slot import Slot

from tests.integration.booking.world import World
from tests.support.people import SCOPES
from tests.support.stack import ADMIN_TOKEN

REASON = "synthetic reason: rash on the left arm"


@pytest.fixture(scope="module")
def agenda(world: World) -> dict:
    """Two practitioners, three patients, appointments on both agendas, and the callers."""
    p1, p2 = world.practitioner(), world.practitioner("cardiology")
    patients = [world.patient() for _ in range(3)]
    slots1, slots2 = world.open_slots(p1, count=8), world.open_slots(p2, count=8)
    booked = {p1: [], p2: []}
    for i, slot in enumerate(slots1[:6]):
        patient = patients[i % 3]
        r = world.book(ADMIN_TOKEN, slot, patient, REASON)
        assert r.status_code == 201, r.text
        booked[p1].append((r.json()["id"], patient))
    for i, slot in enumerate(slots2[:4]):
        r = world.book(ADMIN_TOKEN, slot, patients[i % 3], None)
        assert r.status_code == 201, r.text
        booked[p2].append((r.json()["id"], patients[i % 3]))
    return {
        "p1": p1,
        "p2": p2,
        "patients": patients,
        "booked": booked,
        "free1": slots1[6:],
        "reader": world.connector({p1: ["appointment:read"]}),
        "medical": world.connector({p1: SCOPES}),
        "nobody": world.connector({}),
    }


def get(world: World, path: str, token: str, **kw):
    return world.request("GET", path, token, **kw)


def assert_recorded(world: World, response, outcome: str = "success") -> dict:
    """The response names its access record, committed, listing exactly what was returned."""
    access_id = response.headers["X-Carnet-Access-Id"]
    record = world.access_records()[access_id]
    assert record["outcome"] == outcome
    body = response.json()
    if body["resourceType"] == "Bundle":
        resources = [e["resource"] for e in body.get("entry", [])]
    else:
        resources = [body]
    assert sorted(record["appointment_ids"]) == sorted(r["id"] for r in resources)
    assert record["result_count"] == len(resources)
    served_pairs = {(r["id"], r["contained"][0]["identifier"][0]["value"]) for r in resources}
    assert {(e["appointment_id"], e["patient_id"]) for e in record["entries"]} == served_pairs
    assert sorted(record["patient_ids"]) == sorted({p for _, p in served_pairs})
    return record


def test_patient_reads_own_appointment_with_medical_fields(world, agenda):
    appointment_id, patient = agenda["booked"][agenda["p1"]][0]
    token = world.person_token(patient)
    r = get(world, f"/fhir/Appointment/{appointment_id}", token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/fhir+json")
    Appointment.model_validate(r.json())
    assert r.json()["reasonCode"][0]["text"] == REASON
    record = assert_recorded(world, r)
    assert record["principal_kind"] == "patient"
    assert record["medical_decrypted"] is True
    assert "medical" in record["field_classes"]
    assert record["patient_ids"] == [patient]


def test_administrative_scope_never_sees_medical_fields(world, agenda):
    token = agenda["reader"]["token"]
    r = get(world, f"/fhir/Appointment?practitioner={agenda['p1']}&_count=100", token)
    assert r.status_code == 200, r.text
    Bundle.model_validate(r.json())
    entries = [e["resource"] for e in r.json()["entry"]]
    assert len(entries) == 6
    assert all("reasonCode" not in e and "comment" not in e for e in entries)
    record = assert_recorded(world, r)
    assert record["medical_decrypted"] is False
    assert set(record["field_classes"]) == {"administrative", "sensitive"}
    assert record["connector_id"] == agenda["reader"]["connector_id"]
    assert REASON not in r.text


def test_medical_scope_sees_reason_and_it_is_recorded(world, agenda):
    r = get(world, f"/fhir/Appointment?practitioner={agenda['p1']}", agenda["medical"]["token"])
    assert r.status_code == 200, r.text
    entries = [e["resource"] for e in r.json()["entry"]]
    assert entries and all(e["reasonCode"][0]["text"] == REASON for e in entries)
    record = assert_recorded(world, r)
    assert record["medical_decrypted"] is True
    assert "medical" in record["field_classes"]


def test_medical_text_is_sealed_in_events_and_views(world, agenda):
    with psycopg.connect(world.database_url) as conn:
        events = conn.execute("SELECT data::text FROM booking.events").fetchall()
        views = conn.execute("SELECT reason::text FROM booking.appointments").fetchall()
    assert events and not any(REASON in e[0] for e in events)
    assert views and not any(v[0] and REASON in v[0] for v in views)


def test_other_practitioners_agenda_is_denied_and_recorded(world, agenda):
    r = get(world, f"/fhir/Appointment?practitioner={agenda['p2']}", agenda["reader"]["token"])
    assert r.status_code == 403
    OperationOutcome.model_validate(r.json())
    denied = [
        rec
        for rec in world.access_records().values()
        if rec["outcome"] == "denied"
        and rec["practitioner_ids"] == [agenda["p2"]]
        and rec["principal_id"] == agenda["reader"]["connector_id"]
    ]
    assert len(denied) == 1
    assert denied[0]["appointment_ids"] == [] and denied[0]["field_classes"] == []


def test_reading_one_appointment_outside_reach_is_denied_and_recorded(world, agenda):
    appointment_id, _ = agenda["booked"][agenda["p2"]][0]
    r = get(world, f"/fhir/Appointment/{appointment_id}", agenda["reader"]["token"])
    assert r.status_code == 403
    assert appointment_id not in r.text
    records = [
        rec
        for rec in world.access_records().values()
        if rec["outcome"] == "denied" and appointment_id in rec["query"]
    ]
    assert len(records) == 1


def test_connector_without_grant_gets_nothing(world, agenda):
    token = agenda["nobody"]["token"]
    r = get(world, "/fhir/Appointment", token)
    assert r.status_code == 200
    assert r.json().get("entry", []) == []
    assert assert_recorded(world, r)["result_count"] == 0
    appointment_id, _ = agenda["booked"][agenda["p1"]][0]
    assert get(world, f"/fhir/Appointment/{appointment_id}", token).status_code == 403


def test_patient_sees_only_own_and_is_denied_others(world, agenda):
    patient = agenda["patients"][0]
    token = world.person_token(patient)
    r = get(world, "/fhir/Appointment?_count=100", token)
    assert r.status_code == 200
    ids = {e["resource"]["id"] for e in r.json()["entry"]}
    mine = {a for agenda_ in agenda["booked"].values() for a, p in agenda_ if p == patient}
    assert ids == mine
    other = next(a for a, p in agenda["booked"][agenda["p1"]] if p != patient)
    assert get(world, f"/fhir/Appointment/{other}", token).status_code == 403
    r = get(world, f"/fhir/Appointment?patient={agenda['patients'][1]}", token)
    assert r.status_code == 403


def test_practitioner_sees_own_agenda_only(world, agenda):
    token = world.person_token(agenda["p2"])
    r = get(world, "/fhir/Appointment?_count=100", token)
    assert r.status_code == 200
    assert {e["resource"]["id"] for e in r.json()["entry"]} == {
        a for a, _ in agenda["booked"][agenda["p2"]]
    }
    other, _ = agenda["booked"][agenda["p1"]][0]
    assert get(world, f"/fhir/Appointment/{other}", token).status_code == 403


def test_paging_follows_next_links_and_every_page_is_recorded(world, agenda):
    token = agenda["medical"]["token"]
    url, seen, pages = f"/fhir/Appointment?practitioner={agenda['p1']}&_count=2", [], 0
    while url:
        r = get(world, url, token)
        assert r.status_code == 200, r.text
        Bundle.model_validate(r.json())
        assert_recorded(world, r)
        seen += [e["resource"]["id"] for e in r.json().get("entry", [])]
        nxt = [link["url"] for link in r.json().get("link", []) if link["relation"] == "next"]
        url = nxt[0].removeprefix(world.base) if nxt else None
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(a for a, _ in agenda["booked"][agenda["p1"]])


def test_page_size_is_capped_not_refused(world, agenda):
    """A page asked far above the cap is served at the cap (FHIR lets a server lower _count)."""
    p1 = agenda["p1"]
    token = agenda["reader"]["token"]
    huge = get(world, f"/fhir/Appointment?practitioner={p1}&_count=100000", token)
    assert huge.status_code == 200
    assert len(huge.json()["entry"]) <= 100
    # Six appointments on p1's agenda: a capped page still holds them all, with no next link.
    assert len(huge.json()["entry"]) == len(agenda["booked"][p1])
    assert not [x for x in huge.json()["link"] if x["relation"] == "next"]
    assert get(world, f"/fhir/Appointment?practitioner={p1}&_count=0", token).status_code == 400


def test_random_queries_return_exactly_what_their_records_name(world, agenda):
    rng = random.Random(1234)
    callers = [
        agenda["reader"]["token"],
        agenda["medical"]["token"],
        world.person_token(agenda["patients"][1]),
        world.person_token(agenda["p1"]),
    ]
    for _ in range(25):
        params = []
        if rng.random() < 0.5:
            params.append(f"practitioner={agenda['p1']}")
        if rng.random() < 0.3:
            params.append("status=booked")
        params.append(f"_count={rng.randint(1, 7)}")
        r = get(world, "/fhir/Appointment?" + "&".join(params), rng.choice(callers))
        assert r.status_code == 200, r.text
        assert_recorded(world, r)
        for entry in r.json().get("entry", []):
            Appointment.model_validate(entry["resource"])


def test_free_slots_are_served_as_valid_fhir(world, agenda):
    r = get(world, f"/fhir/Slot?practitioner={agenda['p1']}", agenda["reader"]["token"])
    assert r.status_code == 200, r.text
    Bundle.model_validate(r.json())
    slots = [e["resource"] for e in r.json()["entry"]]
    assert {s["id"] for s in slots} == set(agenda["free1"])
    for s in slots:
        Slot.model_validate(s)
        assert s["status"] == "free"
        # when it was opened (held or released last), by booking's clock: a delta sync's mark
        opened = datetime.fromisoformat(s["meta"]["lastUpdated"])
        assert timedelta(0) <= datetime.now(UTC) - opened < timedelta(hours=1)


def test_refused_when_the_access_record_cannot_be_committed(world, agenda):
    appointment_id, patient = agenda["booked"][agenda["p1"]][1]
    token = world.person_token(patient)
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION booking.test_refuse_access() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'store unavailable (test)'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_refuse_access BEFORE INSERT ON booking.events FOR EACH ROW"
            " WHEN (NEW.event_type = 'AppointmentsAccessed')"
            " EXECUTE FUNCTION booking.test_refuse_access()"
        )
    try:
        r = get(world, f"/fhir/Appointment/{appointment_id}", token)
        s = get(world, f"/fhir/Appointment?practitioner={agenda['p1']}", agenda["medical"]["token"])
    finally:
        with psycopg.connect(world.database_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER test_refuse_access ON booking.events")
            conn.execute("DROP FUNCTION booking.test_refuse_access()")
    for response in (r, s):
        assert response.status_code == 503
        OperationOutcome.model_validate(response.json())
        assert appointment_id not in response.text and REASON not in response.text
    assert get(world, f"/fhir/Appointment/{appointment_id}", token).status_code == 200


def test_bad_requests_get_operation_outcomes(world, agenda):
    token = agenda["reader"]["token"]
    cases = [
        ("GET", "/fhir/Appointment?bogus=1", None, 400),
        ("GET", "/fhir/Appointment?date=2030-01-01T10:00:00", None, 400),
        ("GET", "/fhir/Appointment/not-a-uuid", None, 404),
        ("POST", "/fhir/Appointment", b"{not json", 400),
        ("POST", "/fhir/Appointment", b'{"resourceType": "Patient"}', 400),
        ("POST", "/fhir/Appointment", b"x" * 70000, 413),
    ]
    for method, path, body, status in cases:
        r = world.request(
            method, path, token, data=body, headers={"Content-Type": "application/fhir+json"}
        )
        assert r.status_code == status, (path, r.status_code, r.text)
        OperationOutcome.model_validate(r.json())
    assert get(world, "/fhir/Appointment", None).status_code == 401
    assert get(world, "/fhir/Appointment", "not-a-token").status_code == 401


def test_status_changes_follow_fhir(world, agenda):
    slot = agenda["free1"][0]
    patient = agenda["patients"][2]
    r = world.book(agenda["medical"]["token"], slot, patient)
    assert r.status_code == 201, r.text
    appointment_id = r.json()["id"]

    def patch(ops, token=agenda["medical"]["token"]):
        return world.request(
            "PATCH",
            f"/fhir/Appointment/{appointment_id}",
            token,
            json=ops,
            headers={"Content-Type": "application/json-patch+json"},
        )

    r = patch([{"op": "replace", "path": "/status", "value": "fulfilled"}])
    assert r.status_code == 409, r.text
    r = patch([{"op": "replace", "path": "/status", "value": "arrived"}])
    assert r.status_code == 200 and r.json()["status"] == "arrived"
    assert (
        patch(
            [{"op": "replace", "path": "/status", "value": "arrived"}], agenda["reader"]["token"]
        ).status_code
        == 403
    )
    r = patch([{"op": "replace", "path": "/status", "value": "fulfilled"}])
    assert r.status_code == 200 and r.json()["status"] == "fulfilled"


def test_reschedule_and_cancel_free_the_slots(world, agenda):
    token = agenda["medical"]["token"]
    first, second = agenda["free1"][1], world.open_slots(agenda["p1"], count=1, days_ahead=9)[0]
    r = world.book(token, first, agenda["patients"][0])
    assert r.status_code == 201, r.text
    appointment_id = r.json()["id"]
    r = world.request(
        "PATCH",
        f"/fhir/Appointment/{appointment_id}",
        token,
        json=[{"op": "replace", "path": "/slot/0/reference", "value": f"Slot/{second}"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["slot"][0]["reference"] == f"Slot/{second}"
    assert world.book(token, first, agenda["patients"][1]).status_code == 201
    r = world.request(
        "PATCH",
        f"/fhir/Appointment/{appointment_id}",
        token,
        json=[{"op": "replace", "path": "/status", "value": "cancelled"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert world.book(token, second, agenda["patients"][1]).status_code == 201


def test_openapi_document_is_served(world):
    r = world.request("GET", "/openapi.json", None)
    assert r.status_code == 200
    assert "/fhir/Appointment" in r.json()["paths"]


def test_internal_reads_by_another_service_are_recorded_as_a_service(world, agenda):
    from nameko.standalone.rpc import ClusterRpcProxy

    appointment_id, patient = agenda["booked"][agenda["p1"]][0]
    with ClusterRpcProxy({"AMQP_URI": world.amqp_uri}) as proxy:
        resource = proxy.booking.read_appointment_for(appointment_id, "notification", "care")
    Appointment.model_validate(resource)
    assert "reasonCode" not in resource
    records = [
        r
        for r in world.access_records().values()
        if r["principal_kind"] == "service" and r["appointment_ids"] == [appointment_id]
    ]
    assert len(records) == 1
    assert records[0]["user_agent"] == "rpc:notification" and records[0]["purpose"] == "care"
    assert records[0]["patient_ids"] == [patient]


def test_an_rpc_read_from_an_unknown_caller_is_refused_before_anything_is_read(world, agenda):
    from nameko.exceptions import RemoteError
    from nameko.standalone.rpc import ClusterRpcProxy

    appointment_id, _ = agenda["booked"][agenda["p1"]][0]
    before = len(world.access_records())
    with (
        ClusterRpcProxy({"AMQP_URI": world.amqp_uri}) as proxy,
        pytest.raises(RemoteError) as refused,
    ):
        proxy.booking.read_appointment_for(appointment_id, "mallory", "care")
    assert refused.value.exc_type == "ValueError"
    assert "caller must be one of" in str(refused.value)
    assert len(world.access_records()) == before


def test_prefer_return_minimal_sends_no_appointment_data_and_records_nothing(world, agenda):
    slot = world.open_slots(agenda["p1"], count=1, days_ahead=12)[0]
    before = len(world.access_records())
    r = world.request(
        "POST",
        "/fhir/Appointment",
        agenda["medical"]["token"],
        json={
            "resourceType": "Appointment",
            "status": "proposed",
            "slot": [{"reference": f"Slot/{slot}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{agenda['patients'][0]}"}, "status": "accepted"}
            ],
        },
        headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"},
    )
    assert r.status_code == 201 and r.content == b""
    appointment_id = r.headers["Location"].rsplit("/", 1)[-1]
    assert len(world.access_records()) == before
    assert (
        get(world, f"/fhir/Appointment/{appointment_id}", agenda["medical"]["token"]).status_code
        == 200
    )
