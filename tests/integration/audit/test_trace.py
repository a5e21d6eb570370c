"""Trace and replay: an appointment's history, its state as of an instant, accesses by filter."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import psycopg
import pytest
from click.testing import CliRunner

from services.audit import trace
from services.cli.main import cli
from tests.contract.examples import SEALED
from tests.support.appointment_story import PATIENT, PRACTITIONER, SLOT, START, booked, read
from tests.support.ledger import T0, Ledger

APPOINTMENT, OTHER = uuid.uuid4(), uuid.uuid4()
OTHER_PATIENT, CONNECTOR, NEW_SLOT = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
NEW_START = "2030-04-03T10:00:00+02:00"


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


def ids_of(appointment: uuid.UUID) -> dict[str, str]:
    return {"appointment_id": str(appointment), "practitioner_id": PRACTITIONER}


@pytest.fixture
def story(world):
    """Book (t=0), read by C (t=10), reschedule (t=20), read by the practitioner (t=30),
    cancel (t=40), a V1 read by C (t=50); another patient's appointment read at t=10 too."""
    book = Ledger(world.pool)
    stream = f"appointment-{APPOINTMENT}"
    ids = ids_of(APPOINTMENT)
    book.put("SlotHeld", {**ids, "slot_id": SLOT}, stream=f"slot-{SLOT}", at=at(0))
    book.put("AppointmentBooked", booked(APPOINTMENT, PATIENT), stream=stream, at=at(0))
    book.put(
        "AppointmentBooked",
        booked(OTHER, OTHER_PATIENT),
        stream=f"appointment-{OTHER}",
        at=at(1),
    )
    pair = [(APPOINTMENT, PATIENT), (OTHER, OTHER_PATIENT)]
    book.put("AppointmentsAccessed", read(CONNECTOR, CONNECTOR, pair), at=at(10))
    book.put("SlotHeld", {**ids, "slot_id": NEW_SLOT}, stream=f"slot-{NEW_SLOT}", at=at(20))
    book.put(
        "SlotReleased",
        {**ids, "slot_id": SLOT, "cause": "rescheduled"},
        stream=f"slot-{SLOT}",
        at=at(20),
    )
    moved = {
        **ids,
        "patient_id": PATIENT,
        "previous_slot_id": SLOT,
        "previous_start": START,
        "slot_id": NEW_SLOT,
        "start": NEW_START,
        "end": "2030-04-03T10:20:00+02:00",
        "rescheduled_by": CONNECTOR,
        "connector_id": CONNECTOR,
    }
    book.put("AppointmentRescheduled", moved, stream=stream, at=at(20))
    mine = read(PRACTITIONER, None, [(APPOINTMENT, PATIENT)], operation="read")
    mine["field_classes"], mine["medical_decrypted"] = ["administrative", "medical"], True
    book.put("AppointmentsAccessed", mine, at=at(30))
    book.put(
        "SlotReleased",
        {**ids, "slot_id": NEW_SLOT, "cause": "cancelled"},
        stream=f"slot-{NEW_SLOT}",
        at=at(40),
    )
    cancelled = {
        **ids,
        "patient_id": PATIENT,
        "slot_id": NEW_SLOT,
        "start": NEW_START,
        "reason_code": "patient_request",
        "note": SEALED,
        "cancelled_by": PATIENT,
        "connector_id": None,
    }
    book.put("AppointmentCancelled", cancelled, stream=stream, at=at(40))
    v1 = {
        "access_id": str(uuid.uuid4()),
        "principal_id": CONNECTOR,
        "connector_id": CONNECTOR,
        "network_address": "203.0.113.9",
        "request_id": "req-v1",
        "operation": "read",
        "purpose": "agenda_sync",
        "appointment_ids": [str(APPOINTMENT)],
        "patient_ids": [PATIENT],
        "field_classes": ["administrative"],
    }
    book.put("AppointmentsAccessed", v1, version=1, at=at(50))
    with psycopg.connect(world.database_url) as conn:
        yield conn


def test_history_merges_changes_and_accesses_in_ledger_order(story):
    items = trace.history(story, APPOINTMENT)
    assert [(i["kind"], i["event_type"]) for i in items] == [
        ("change", "SlotHeld"),
        ("change", "AppointmentBooked"),
        ("access", "AppointmentsAccessed"),
        ("change", "SlotHeld"),
        ("change", "SlotReleased"),
        ("change", "AppointmentRescheduled"),
        ("access", "AppointmentsAccessed"),
        ("change", "SlotReleased"),
        ("change", "AppointmentCancelled"),
        ("access", "AppointmentsAccessed"),
    ]
    assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)
    text = json.dumps(items)
    assert "ciphertext" not in text and SEALED["nonce"] not in text
    booking = items[1]
    assert booking["payload"]["reason"] == "encrypted"
    assert booking["field_classes"] == ["administrative", "sensitive", "medical"]
    assert (
        booking["who"]["principal_id"] == PATIENT and booking["at"] == "2030-03-01T08:00:00.000000Z"
    )
    assert items[8]["payload"]["note"] == "encrypted"
    first_read = items[2]
    assert first_read["who"] == {
        "principal_kind": "connector",
        "principal_id": CONNECTOR,
        "connector_id": CONNECTOR,
    }
    assert first_read["network_address"] == "198.51.100.7"
    assert first_read["field_classes"] == ["administrative", "sensitive"]
    assert first_read["outcome"] == "success" and first_read["result_count"] == 2
    # Only this appointment's entry: the other patient's appointment is not disclosed here.
    assert first_read["appointment_ids"] == [str(APPOINTMENT)]
    assert (
        items[6]["medical_decrypted"] is True
        and items[6]["who"]["principal_kind"] == "practitioner"
    )
    assert items[9]["entries"] == [
        {"appointment_id": str(APPOINTMENT), "patient_id": PATIENT, "practitioner_id": None}
    ]
    assert trace.history(story, uuid.uuid4()) == []


def test_state_as_of_each_instant(story):
    assert trace.state_as_of(story, APPOINTMENT, at(-1)) is None
    first = trace.state_as_of(story, APPOINTMENT, at(5))
    assert first == {
        "appointment_id": str(APPOINTMENT),
        "status": "booked",
        "start": START,
        "end": "2030-04-02T09:20:00+02:00",
        "practitioner_id": PRACTITIONER,
        "patient_id": PATIENT,
        "slot_id": SLOT,
        "service_type": "dermatology consultation",
        "reason": "encrypted",
        "version": 1,
        "last_event_at": "2030-03-01T08:00:00.000000Z",
    }
    moved = trace.state_as_of(story, APPOINTMENT, at(20))  # inclusive of the instant itself
    assert (moved["status"], moved["slot_id"], moved["start"]) == ("booked", NEW_SLOT, NEW_START)
    assert moved["version"] == 2
    gone = trace.state_as_of(story, APPOINTMENT, at(45))
    assert (gone["status"], gone["slot_id"], gone["version"]) == ("cancelled", NEW_SLOT, 3)
    assert trace.state_as_of(story, uuid.uuid4(), at(45)) is None
    with pytest.raises(ValueError):
        trace.state_as_of(story, APPOINTMENT, at(45).replace(tzinfo=None))


def test_accesses_by_principal_connector_patient_and_window(story):
    by_connector = trace.accesses(story, connector_id=uuid.UUID(CONNECTOR))
    assert [a["at"][11:16] for a in by_connector] == ["08:10", "08:50"]
    assert by_connector[0]["appointment_ids"] == sorted([str(APPOINTMENT), str(OTHER)])
    by_principal = trace.accesses(story, principal_id=uuid.UUID(PRACTITIONER))
    assert len(by_principal) == 1 and by_principal[0]["medical_decrypted"] is True
    # A patient sees only their own entries, V1 included when it named them alone.
    mine = trace.accesses(story, patient_id=uuid.UUID(PATIENT))
    assert [a["at"][11:16] for a in mine] == ["08:10", "08:30", "08:50"]
    assert all(a["appointment_ids"] == [str(APPOINTMENT)] for a in mine)
    theirs = trace.accesses(story, patient_id=uuid.UUID(OTHER_PATIENT))
    assert len(theirs) == 1 and theirs[0]["appointment_ids"] == [str(OTHER)]
    window = trace.accesses(story, patient_id=uuid.UUID(PATIENT), since=at(10), until=at(30))
    assert [a["at"][11:16] for a in window] == ["08:10"]  # [since, until)
    assert len(trace.accesses(story, since=at(0), limit=2)) == 2
    assert trace.accesses(story, principal_id=uuid.uuid4()) == []


def test_the_cli_prints_the_same_json(story, world):
    db = ["--database-url", world.database_url]

    def run(*args: str):
        return CliRunner().invoke(cli, ["audit", *args, *db])

    result = run("history", str(APPOINTMENT))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == trace.history(story, APPOINTMENT)
    result = run("state", str(APPOINTMENT), "--as-of", "2030-03-01T08:45:00Z")
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "cancelled"
    result = run("state", str(APPOINTMENT), "--as-of", "2030-03-01T07:00:00Z")
    assert result.exit_code == 1 and json.loads(result.stdout) is None
    assert run("state", str(APPOINTMENT), "--as-of", "2030-03-01T07:00:00").exit_code == 2
    result = run("accesses", "--patient", PATIENT, "--from", "2030-03-01T08:30:00Z")
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 2
    assert run("accesses", "--patient", PATIENT, "--connector", CONNECTOR).exit_code == 2
    assert run("history", "not-a-uuid").exit_code == 2
    before = trace.accesses(story)
    story.rollback()  # end the reads' transaction: the swap waits for the live tables' readers
    result = CliRunner().invoke(cli, ["replay", "rebuild", "audit.access_index", *db])
    assert result.exit_code == 0 and "swapped in" in result.output, result.output
    assert trace.accesses(story) == before
