"""What booking served, audit can replay: history, state as seen, AuditEvents, an incident.

Identity, booking and audit run in-process on one vhost and talk over the real broker. A
connector reads appointments (the test keeps what it received as ground truth), one is moved
afterwards, and an investigator asks audit what happened.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from tests.integration.booking.world import World
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN


@pytest.fixture(scope="module")
def trail(migrated_database_url: str, module_broker: str) -> Iterator[dict]:
    audit = {"AUDIT_SIGNING_KEY_ID": "audit-trail-test"}
    world = World(migrated_database_url, module_broker, extra={"audit": audit}).start()
    try:
        yield {"world": world, "audit": world.stack.url("audit")}
    finally:
        world.close()


@pytest.fixture(scope="module")
def story(trail) -> dict:
    """Book, let a connector read (ground truth kept), refuse it once, then move one."""
    world: World = trail["world"]
    p1, p2 = world.practitioner(), world.practitioner()
    patients = [world.patient() for _ in range(3)]
    slots = world.open_slots(p1, count=6)
    booked = [world.book(ADMIN_TOKEN, s, patients[i % 3]).json() for i, s in enumerate(slots[:5])]
    connector = world.connector({p1: ["appointment:read"]})
    seen: dict[str, dict] = {}
    started = datetime.now(UTC)
    url = f"/fhir/Appointment?practitioner={p1}&_count=2"
    while url:
        r = world.request("GET", url, connector["token"])
        assert r.status_code == 200
        for e in r.json().get("entry", []):
            seen[e["resource"]["id"]] = e["resource"]
        nxt = [x["url"] for x in r.json().get("link", []) if x["relation"] == "next"]
        url = nxt[0].removeprefix(world.base) if nxt else None
    read_at = datetime.now(UTC)
    assert (
        world.request("GET", f"/fhir/Appointment?practitioner={p2}", connector["token"]).status_code
        == 403
    )
    time.sleep(0.05)
    moved = booked[0]["id"]
    r = world.request(
        "PATCH",
        f"/fhir/Appointment/{moved}",
        ADMIN_TOKEN,
        json=[{"op": "replace", "path": "/slot/0/reference", "value": f"Slot/{slots[5]}"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200
    token = world.person_token(world.people.staff("investigator"))
    return {
        "connector": connector,
        "seen": seen,
        "moved": moved,
        "started": started,
        "read_at": read_at,
        "token": token,
        "patients": patients,
    }


def audit_get(trail, story, path, **params):
    r = requests.get(
        f"{trail['audit']}{path}",
        params=params,
        timeout=30,
        headers={"Authorization": f"Bearer {story['token']}"},
    )
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def ledgered(trail, story) -> bool:
    """Audit has consumed every access record of the connector (served and refused)."""
    body = audit_get(
        trail, story, "/v1/audit/accesses", connector=story["connector"]["connector_id"]
    )
    return body["count"] >= 4  # three pages served, one refusal


def test_state_as_seen_matches_what_booking_served_before_the_move(trail, story):
    eventually(lambda: ledgered(trail, story), what="access records in the ledger")
    served = story["seen"][story["moved"]]
    eventually(
        lambda: (
            audit_get(trail, story, f"/v1/audit/appointments/{story['moved']}/history")["count"]
            >= 4
        ),
        what="the move in the ledger",
    )
    then = audit_get(
        trail,
        story,
        f"/v1/audit/appointments/{story['moved']}/state",
        as_of=story["read_at"].isoformat(),
    )["state"]
    now = audit_get(trail, story, f"/v1/audit/appointments/{story['moved']}/state")["state"]
    assert datetime.fromisoformat(then["start"]) == datetime.fromisoformat(served["start"])
    assert then["status"] == served["status"] == "booked"
    assert datetime.fromisoformat(now["start"]) != datetime.fromisoformat(served["start"])
    history = audit_get(trail, story, f"/v1/audit/appointments/{story['moved']}/history")
    kinds = [(i["kind"], i["event_type"]) for i in history["items"]]
    assert ("change", "AppointmentBooked") in kinds and (
        "change",
        "AppointmentRescheduled",
    ) in kinds
    reads = [
        i
        for i in history["items"]
        if i["kind"] == "access" and i["who"]["connector_id"] == story["connector"]["connector_id"]
    ]
    assert len(reads) == 1 and reads[0]["field_classes"] == ["administrative", "sensitive"]


def test_audit_events_validate_and_name_the_reads(trail, story):
    eventually(lambda: ledgered(trail, story), what="access records in the ledger")
    appointment = next(iter(story["seen"]))
    bundle = audit_get(trail, story, "/fhir/AuditEvent", entity=f"Appointment/{appointment}")
    Bundle.model_validate(bundle)
    events = [e["resource"] for e in bundle["entry"]]
    assert events
    for event in events:
        AuditEvent.model_validate(event)
    by_connector = audit_get(
        trail, story, "/fhir/AuditEvent", agent=story["connector"]["connector_id"], _count=2
    )
    Bundle.model_validate(by_connector)
    assert any(link["relation"] == "next" for link in by_connector["link"])
    r = requests.get(
        f"{trail['audit']}/fhir/AuditEvent",
        timeout=30,
        headers={"Authorization": f"Bearer {story['token']}"},
    )
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_incident_reports_exactly_what_the_connector_received(trail, story):
    eventually(lambda: ledgered(trail, story), what="access records in the ledger")
    body = {
        "title": "Test incident",
        "connector_id": story["connector"]["connector_id"],
        "from": (story["started"] - timedelta(seconds=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        "aware_at": datetime.now(UTC).isoformat(),
    }
    headers = {"Authorization": f"Bearer {story['token']}"}
    r = requests.post(
        f"{trail['audit']}/v1/audit/incidents?wait=true", json=body, headers=headers, timeout=60
    )
    assert r.status_code == 201, r.text
    incident, report = r.json()["incident_id"], r.json()["report"]
    affected = report["affected"]
    assert {a["appointment_id"] for a in affected["appointments"]} == set(story["seen"])
    seen_patients = {
        c["identifier"][0]["value"] for res in story["seen"].values() for c in res["contained"]
    }
    assert {p["patient_id"] for p in affected["patients"]} == seen_patients
    assert affected["medical_decrypted"] is False and affected["denied_requests"] == 1
    assert report["art33"]["medical_fields_returned"] == "none"
    assert "dpo_contact" in report["to_complete"]
    moved = next(a for a in affected["appointments"] if a["appointment_id"] == story["moved"])
    served = story["seen"][story["moved"]]
    assert datetime.fromisoformat(moved["as_seen"]["start"]) == datetime.fromisoformat(
        served["start"]
    )
    md = requests.get(
        f"{trail['audit']}/v1/audit/incidents/{incident}/report.md", headers=headers, timeout=30
    )
    assert md.status_code == 200 and "Art. 33" in md.text
    csv = requests.get(
        f"{trail['audit']}/v1/audit/incidents/{incident}/patients.csv", headers=headers, timeout=30
    )
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 1 + len(seen_patients)
    n = requests.post(
        f"{trail['audit']}/v1/audit/incidents/{incident}/notify",
        json={},
        headers=headers,
        timeout=60,
    )
    assert n.status_code == 200 and n.json()["notices_requested"] == len(seen_patients)
    again = requests.post(
        f"{trail['audit']}/v1/audit/incidents/{incident}/notify",
        json={},
        headers=headers,
        timeout=60,
    )
    assert again.status_code == 409
    with psycopg.connect(trail["world"].database_url) as conn:
        requested = conn.execute(
            "SELECT count(*) FROM audit.events WHERE event_type = 'BreachNotificationRequested'"
        ).fetchone()[0]
        opened = conn.execute(
            "SELECT count(*) FROM audit.events WHERE event_type = 'IncidentOpened'"
        ).fetchone()[0]
    assert (requested, opened) == (len(seen_patients), 1)
    reg = requests.post(
        f"{trail['audit']}/v1/audit/incidents/{incident}/regulator-notice",
        json={},
        headers=headers,
        timeout=60,
    )
    assert reg.status_code == 200 and reg.json()["within_deadline"] is True


def test_cli_investigate_opens_an_incident_with_the_same_affected_set(trail, story):
    import json

    from click.testing import CliRunner

    from services.cli.main import cli

    eventually(lambda: ledgered(trail, story), what="access records in the ledger")
    args = [
        "audit",
        "investigate",
        "--connector",
        story["connector"]["connector_id"],
        "--from",
        (story["started"] - timedelta(seconds=1)).isoformat(),
        "--to",
        (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        "--format",
        "json",
        "--database-url",
        trail["world"].database_url,
    ]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert {a["appointment_id"] for a in report["affected"]["appointments"]} == set(story["seen"])
