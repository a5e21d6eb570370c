"""Booking's aggregates: they fold events into state and decide new events; they do no I/O.

Three kinds of stream: `agenda-<practitioner>` (SlotsOpened: opening is serialised per
practitioner, so two openings cannot overlap), `slot-<slot>` (SlotHeld/SlotReleased: the
version check on this stream is what makes double booking impossible) and
`appointment-<id>` (the appointment's life). Payloads here are in contract JSON form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid5

from services.booking.model import NEXT_STATUSES, SlotRow
from services.common.errors import Conflict, NotFound, Unprocessable

Decided = tuple[str, dict[str, Any]]
MAX_SLOTS_PER_OPENING = 500
_SCHEDULES = UUID("2f1c8f56-5d0e-4b7e-9a43-7f0a3c1d9e21")


def conflict(detail: str) -> Conflict:
    """The state moved (slot taken, appointment already cancelled)."""
    return Conflict(detail)


def not_found(what: str) -> NotFound:
    """No such slot or appointment."""
    return NotFound(f"no such {what}")


def invalid(detail: str) -> Unprocessable:
    """Well-formed but against a business rule (past slot, overlap)."""
    return Unprocessable(detail)


def schedule_id_of(practitioner_id: UUID) -> UUID:
    """Each practitioner has one schedule; its id is derived, never stored apart."""
    return uuid5(_SCHEDULES, str(practitioner_id))


def agenda_stream(practitioner_id: UUID) -> str:
    """The stream that serialises a practitioner's slot openings."""
    return f"agenda-{practitioner_id}"


def slot_stream(slot_id: UUID) -> str:
    """The stream whose version guards a slot against double booking."""
    return f"slot-{slot_id}"


def appointment_stream(appointment_id: UUID) -> str:
    """One appointment's life."""
    return f"appointment-{appointment_id}"


@dataclass(frozen=True)
class Slot:
    """A slot as the catalog describes it, plus who holds it, from its own stream."""

    row: SlotRow
    held_by: UUID | None = None
    version: int = 0


def slot_state(row: SlotRow, events: Iterable[tuple[str, dict[str, Any]]]) -> Slot:
    """Fold the slot stream (SlotHeld, SlotReleased) over the catalog row."""
    state = Slot(row)
    for event_type, data in events:
        held = UUID(data["appointment_id"]) if event_type == "SlotHeld" else None
        state = replace(state, held_by=held, version=state.version + 1)
    return state


@dataclass(frozen=True)
class Appointment:
    """An appointment's state: enough to decide the next event."""

    appointment_id: UUID
    practitioner_id: UUID
    patient_id: UUID
    slot_id: UUID
    start: datetime
    end: datetime
    status: str
    version: int


def appointment_state(events: Iterable[tuple[str, dict[str, Any]]]) -> Appointment | None:
    """Fold an appointment stream; None if it never started."""
    state: Appointment | None = None
    for event_type, d in events:
        if event_type == "AppointmentBooked":
            state = Appointment(
                UUID(d["appointment_id"]),
                UUID(d["practitioner_id"]),
                UUID(d["patient_id"]),
                UUID(d["slot_id"]),
                datetime.fromisoformat(d["start"]),
                datetime.fromisoformat(d["end"]),
                "booked",
                0,
            )
        elif state is None:
            continue
        elif event_type == "AppointmentRescheduled":
            start, end = datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"])
            state = replace(state, slot_id=UUID(d["slot_id"]), start=start, end=end)
        elif event_type == "AppointmentCancelled":
            state = replace(state, status="cancelled")
        elif event_type == "AppointmentStatusChanged":
            state = replace(state, status=d["status"])
        state = replace(state, version=state.version + 1)
    return state


@dataclass(frozen=True)
class Decision:
    """Events to append, per stream, with the version each stream must still be at."""

    appends: list[tuple[str, int, list[Decided]]] = field(default_factory=list)


def slice_interval(start: datetime, end: datetime, minutes: int) -> list[tuple[datetime, datetime]]:
    """Cut [start, end) into back-to-back slots of `minutes`; a remainder is dropped."""
    if minutes < 5 or minutes > 480:
        raise invalid("duration_minutes must be between 5 and 480")
    step = timedelta(minutes=minutes)
    # Count first: a centuries-long interval must not build millions of slots (or step past
    # datetime.max) before the per-opening cap refuses it.
    count = max(0, (end - start) // step)
    if count > MAX_SLOTS_PER_OPENING:
        raise invalid(f"at most {MAX_SLOTS_PER_OPENING} slots per opening")
    return [(start + i * step, start + (i + 1) * step) for i in range(count)]


def open_slots(
    practitioner_id: UUID,
    service_type: str,
    intervals: Sequence[tuple[datetime, datetime]],
    existing: Sequence[SlotRow],
    slot_ids: Sequence[UUID],
    agenda_version: int,
    now: datetime,
) -> Decision:
    """SlotsOpened, unless a slot is empty, in the past, overlapping, or there are too many."""
    if not intervals:
        raise invalid("no slot to open: the interval is shorter than one slot")
    if len(intervals) > MAX_SLOTS_PER_OPENING:
        raise invalid(f"at most {MAX_SLOTS_PER_OPENING} slots per opening")
    ordered = sorted(intervals)
    for start, end in ordered:
        if start.tzinfo is None or end.tzinfo is None:
            raise invalid("slot times need a UTC offset")
        if end <= start:
            raise invalid("a slot must end after it starts")
        if start < now:
            raise invalid("a slot cannot start in the past")
    for (_, end_a), (start_b, _) in pairwise(ordered):
        if start_b < end_a:
            raise invalid("the slots overlap each other")
    for start, end in ordered:
        for row in existing:
            if start < row.end and row.start < end:
                raise conflict(f"overlaps the existing slot {row.slot_id}")
    payload = {
        "schedule_id": schedule_id_of(practitioner_id),
        "practitioner_id": practitioner_id,
        "service_type": service_type,
        "slots": [
            {"slot_id": sid, "start": s, "end": e}
            for sid, (s, e) in zip(slot_ids, ordered, strict=True)
        ],
    }
    return Decision([(agenda_stream(practitioner_id), agenda_version, [("SlotsOpened", payload)])])


def book(
    slot: Slot,
    appointment_id: UUID,
    patient_id: UUID,
    reason: dict[str, Any] | None,
    actor_id: UUID,
    connector_id: UUID | None,
    now: datetime,
) -> Decision:
    """Hold the slot and book it, or refuse: taken (409) or already started (422)."""
    if slot.held_by is not None:
        raise conflict("the slot is already booked")
    if slot.row.start <= now:
        raise invalid("the slot has already started")
    row = slot.row
    held = {
        "slot_id": row.slot_id,
        "appointment_id": appointment_id,
        "practitioner_id": row.practitioner_id,
    }
    booked = {
        "appointment_id": appointment_id,
        "slot_id": row.slot_id,
        "practitioner_id": row.practitioner_id,
        "patient_id": patient_id,
        "start": row.start,
        "end": row.end,
        "service_type": row.service_type,
        "reason": reason,
        "booked_by": actor_id,
        "connector_id": connector_id,
    }
    return Decision(
        [
            (slot_stream(row.slot_id), slot.version, [("SlotHeld", held)]),
            (appointment_stream(appointment_id), 0, [("AppointmentBooked", booked)]),
        ]
    )


def _open(appointment: Appointment | None) -> Appointment:
    if appointment is None:
        raise not_found("appointment")
    return appointment


def reschedule(
    appointment: Appointment | None,
    old: Slot,
    new: Slot,
    actor_id: UUID,
    connector_id: UUID | None,
    now: datetime,
) -> Decision:
    """Move a booked appointment to a free slot of the same practitioner."""
    a = _open(appointment)
    if a.status != "booked":
        raise conflict(f"a {a.status} appointment cannot be rescheduled")
    if new.row.practitioner_id != a.practitioner_id:
        raise invalid("the new slot belongs to another practitioner")
    if new.row.slot_id == a.slot_id:
        raise invalid("the appointment is already in that slot")
    if new.held_by is not None:
        raise conflict("the new slot is already booked")
    if new.row.start <= now:
        raise invalid("the new slot has already started")
    ids = {"appointment_id": a.appointment_id, "practitioner_id": a.practitioner_id}
    moved = {
        **ids,
        "patient_id": a.patient_id,
        "previous_slot_id": a.slot_id,
        "previous_start": a.start,
        "slot_id": new.row.slot_id,
        "start": new.row.start,
        "end": new.row.end,
        "rescheduled_by": actor_id,
        "connector_id": connector_id,
    }
    return Decision(
        [
            (
                slot_stream(new.row.slot_id),
                new.version,
                [("SlotHeld", {**ids, "slot_id": new.row.slot_id})],
            ),
            (
                slot_stream(a.slot_id),
                old.version,
                [("SlotReleased", {**ids, "slot_id": a.slot_id, "cause": "rescheduled"})],
            ),
            (appointment_stream(a.appointment_id), a.version, [("AppointmentRescheduled", moved)]),
        ]
    )


def cancel(
    appointment: Appointment | None,
    slot: Slot,
    reason_code: str,
    note: dict[str, Any] | None,
    actor_id: UUID,
    connector_id: UUID | None,
) -> Decision:
    """Cancel a booked or arrived appointment and free its slot."""
    a = _open(appointment)
    if "cancelled" not in NEXT_STATUSES[a.status]:
        raise conflict(f"a {a.status} appointment cannot be cancelled")
    ids = {"appointment_id": a.appointment_id, "practitioner_id": a.practitioner_id}
    cancelled = {
        **ids,
        "patient_id": a.patient_id,
        "slot_id": a.slot_id,
        "start": a.start,
        "reason_code": reason_code,
        "note": note,
        "cancelled_by": actor_id,
        "connector_id": connector_id,
    }
    return Decision(
        [
            (
                slot_stream(a.slot_id),
                slot.version,
                [("SlotReleased", {**ids, "slot_id": a.slot_id, "cause": "cancelled"})],
            ),
            (
                appointment_stream(a.appointment_id),
                a.version,
                [("AppointmentCancelled", cancelled)],
            ),
        ]
    )


def change_status(
    appointment: Appointment | None, status: str, actor_id: UUID, connector_id: UUID | None
) -> Decision:
    """arrived, fulfilled or noshow, along FHIR's lifecycle (booked -> arrived -> fulfilled)."""
    a = _open(appointment)
    if status not in NEXT_STATUSES[a.status] or status == "cancelled":
        raise conflict(f"a {a.status} appointment cannot become {status}")
    changed = {
        "appointment_id": a.appointment_id,
        "practitioner_id": a.practitioner_id,
        "patient_id": a.patient_id,
        "status": status,
        "previous_status": a.status,
        "changed_by": actor_id,
        "connector_id": connector_id,
    }
    return Decision(
        [(appointment_stream(a.appointment_id), a.version, [("AppointmentStatusChanged", changed)])]
    )
