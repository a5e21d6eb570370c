"""An appointment's life: booked (holding a slot), rescheduled, cancelled, its status moved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from services.booking.domain.decision import Decision, conflict, invalid, not_found
from services.booking.domain.slots import Slot, slot_stream
from services.booking.model import NEXT_STATUSES


def appointment_stream(appointment_id: UUID) -> str:
    """One appointment's life."""
    return f"appointment-{appointment_id}"


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
