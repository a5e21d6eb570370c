"""Booking's aggregates decide from folded events alone: no database needed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.booking.domain import appointments, slots
from services.booking.model import SlotRow
from services.common.errors import Conflict, DomainError, Unprocessable

NOW = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
PRACTITIONER, PATIENT, ACTOR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def row(minutes_from_now: int = 60, practitioner=PRACTITIONER) -> SlotRow:
    start = NOW + timedelta(minutes=minutes_from_now)
    return SlotRow(
        uuid.uuid4(),
        uuid.uuid4(),
        practitioner,
        start,
        start + timedelta(minutes=20),
        "consultation",
        None,
    )


def booked_events(slot: SlotRow, appointment_id: uuid.UUID):
    d = appointments.book(slots.Slot(slot), appointment_id, PATIENT, None, ACTOR, None, NOW)
    (_, _, held), (_, _, booked) = d.appends
    as_json = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in booked[0][1].items()}
    as_json["start"], as_json["end"] = slot.start.isoformat(), slot.end.isoformat()
    return held, [("AppointmentBooked", as_json)]


def test_booking_holds_the_slot_at_the_version_read():
    slot = row()
    decision = appointments.book(
        slots.Slot(slot, None, 3), uuid.uuid4(), PATIENT, None, ACTOR, None, NOW
    )
    streams = [(s, v, [t for t, _ in e]) for s, v, e in decision.appends]
    assert streams[0] == (f"slot-{slot.slot_id}", 3, ["SlotHeld"])
    assert streams[1][1:] == (0, ["AppointmentBooked"])


def test_a_held_slot_is_a_conflict_and_a_started_one_a_business_rule():
    slot = row()
    with pytest.raises(Conflict):
        appointments.book(
            slots.Slot(slot, uuid.uuid4(), 1), uuid.uuid4(), PATIENT, None, ACTOR, None, NOW
        )
    with pytest.raises(Unprocessable):
        appointments.book(slots.Slot(row(-5)), uuid.uuid4(), PATIENT, None, ACTOR, None, NOW)


def test_slot_state_follows_holds_and_releases():
    slot, a = row(), uuid.uuid4()
    held = slots.slot_state(slot, [("SlotHeld", {"appointment_id": str(a)})])
    assert (held.held_by, held.version) == (a, 1)
    freed = slots.slot_state(
        slot,
        [("SlotHeld", {"appointment_id": str(a)}), ("SlotReleased", {"appointment_id": str(a)})],
    )
    assert (freed.held_by, freed.version) == (None, 2)


def test_lifecycle_follows_fhir_statuses():
    slot, a = row(), uuid.uuid4()
    _, events = booked_events(slot, a)
    state = appointments.appointment_state(events)
    assert (state.status, state.version) == ("booked", 1)
    with pytest.raises(DomainError):
        appointments.change_status(state, "fulfilled", ACTOR, None)
    d = appointments.change_status(state, "arrived", ACTOR, None)
    assert d.appends[0][1] == 1
    arrived = appointments.appointment_state(
        [*events, ("AppointmentStatusChanged", {"status": "arrived"})]
    )
    assert arrived.status == "arrived"
    cancelled = appointments.appointment_state([*events, ("AppointmentCancelled", {})])
    for status in ("arrived", "noshow", "fulfilled"):
        with pytest.raises(Conflict):
            appointments.change_status(cancelled, status, ACTOR, None)


def test_reschedule_moves_between_free_slots_of_the_same_practitioner():
    old, new, a = row(), row(120), uuid.uuid4()
    _, events = booked_events(old, a)
    state = appointments.appointment_state(events)
    d = appointments.reschedule(state, slots.Slot(old, a, 1), slots.Slot(new), ACTOR, None, NOW)
    kinds = [[t for t, _ in e] for _, _, e in d.appends]
    assert kinds == [["SlotHeld"], ["SlotReleased"], ["AppointmentRescheduled"]]
    with pytest.raises(DomainError):
        other = row(120, practitioner=uuid.uuid4())
        appointments.reschedule(state, slots.Slot(old, a, 1), slots.Slot(other), ACTOR, None, NOW)
    with pytest.raises(Conflict):
        appointments.reschedule(
            state, slots.Slot(old, a, 1), slots.Slot(new, uuid.uuid4(), 1), ACTOR, None, NOW
        )


def test_cancel_releases_the_slot():
    slot, a = row(), uuid.uuid4()
    _, events = booked_events(slot, a)
    d = appointments.cancel(
        appointments.appointment_state(events), slots.Slot(slot, a, 1), "other", None, ACTOR, None
    )
    assert [t for t, _ in d.appends[0][2]] == ["SlotReleased"]
    assert d.appends[0][2][0][1]["cause"] == "cancelled"


def test_openings_refuse_overlaps_past_and_empty():
    start = NOW + timedelta(hours=1)
    ok = [(start, start + timedelta(minutes=20))]
    d = slots.open_slots(PRACTITIONER, "c", ok, [], [uuid.uuid4()], 2, NOW)
    assert d.appends[0][:2] == (f"agenda-{PRACTITIONER}", 2)
    existing = [row(70)]
    with pytest.raises(Conflict):
        slots.open_slots(PRACTITIONER, "c", ok, existing, [uuid.uuid4()], 2, NOW)
    past = [(NOW - timedelta(hours=1), NOW - timedelta(minutes=40))]
    for bad in (past, [], ok + ok):
        with pytest.raises(DomainError):
            slots.open_slots(PRACTITIONER, "c", bad, [], [uuid.uuid4()] * len(bad), 0, NOW)


def test_slicing_drops_a_remainder_and_bounds_durations():
    start = NOW
    assert len(slots.slice_interval(start, start + timedelta(minutes=50), 20)) == 2
    with pytest.raises(DomainError):
        slots.slice_interval(start, start + timedelta(hours=1), 1)
