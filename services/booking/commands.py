"""Booking's write use cases: load streams, let the aggregate decide, append, fold the read models.

Each unit runs in one transaction: the events and the view rows they imply commit together,
and a stream that moved under us (ConcurrencyError) reruns the whole unit, which is how the
losers of a race for one slot learn, on their rerun, that it is taken (409).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from services.booking import directory, readmodels, readmodels_fold
from services.booking.context import Ctx, new_events, retrying
from services.booking.crypto import KeyDestroyed
from services.booking.domain import appointments, slots
from services.booking.domain.decision import Decision, conflict, invalid, not_found
from services.booking.fhir_input import Change, NewAppointment
from services.booking.model import SlotRow
from services.booking.reach import Principal, may_open_slots, may_write
from services.common.errors import Forbidden, Invalid, NotFound
from services.common.logging import get_logger
from services.common.projections.event_log import LogEvent

log = get_logger(__name__)


class Denied(Forbidden):
    """The principal may not do this here: 403, and an access record with outcome denied.

    `code` is the record's denial code: "reach" (outside the caller's grants or own data) or
    "forbidden" (within reach, but not allowed to the caller's role); `targets` the
    appointments the request aimed at, as (appointment, patient, practitioner).
    """

    def __init__(
        self,
        detail: str,
        practitioner_id: UUID | None = None,
        *,
        code: str = "reach",
        targets: tuple[tuple[UUID, UUID, UUID], ...] = (),
    ) -> None:
        super().__init__(detail)
        self.practitioner_id, self.denial_code, self.targets = practitioner_id, code, targets


def _commit(ctx: Ctx, conn: Connection, decision: Decision) -> None:
    """Append each stream's events at its expected version, then fold them into the read models.

    Each event carries the command's time as metadata `occurred_at` (the relay's convention):
    the read models' updated_at is that time, and the fold is the rebuild's, so a rebuild from the
    log gives the same rows.
    """
    now = ctx.clock()
    when = {"occurred_at": now.isoformat()}
    appended: list[LogEvent] = []
    for stream, version, decided in decision.appends:
        events = [replace(e, metadata={**e.metadata, **when}) for e in new_events(decided)]
        ctx.store.append_in(conn, stream, events, version)
        appended += (
            LogEvent(e.event_type, e.schema_version, e.data, version + offset, now)
            for offset, e in enumerate(events, start=1)
        )
    readmodels_fold.fold(conn, appended)


def _slot(ctx: Ctx, conn: Connection, slot_id: UUID) -> slots.Slot:
    """The slot's catalog row and its hold, from its own stream."""
    row = readmodels.slot(conn, slot_id)
    if row is None:
        raise not_found("slot")
    events = ctx.store.read_stream(slots.slot_stream(slot_id))
    return slots.slot_state(row, ((e.event_type, e.data) for e in events))


def _appointment(ctx: Ctx, appointment_id: UUID) -> appointments.Appointment | None:
    events = ctx.store.read_stream(appointments.appointment_stream(appointment_id))
    return appointments.appointment_state((e.event_type, e.data) for e in events)


def open_slots(
    ctx: Ctx,
    p: Principal,
    practitioner_id: UUID,
    service_type: str,
    intervals: Sequence[tuple[datetime, datetime]],
) -> list[SlotRow]:
    """SlotsOpened on the practitioner's agenda; overlaps with open slots are refused (409)."""
    if not may_open_slots(p, practitioner_id):
        raise Denied("no write access to this practitioner's agenda", practitioner_id)
    slot_ids = [uuid.uuid4() for _ in intervals]

    def unit() -> list[SlotRow]:
        agenda = ctx.store.read_stream(slots.agenda_stream(practitioner_id))
        with ctx.pool.connection() as conn, conn.transaction():
            if not directory.practitioner_exists(conn, practitioner_id):
                raise invalid("unknown practitioner")
            lo = min((s for s, _ in intervals), default=ctx.clock())
            hi = max((e for _, e in intervals), default=ctx.clock())
            existing = readmodels.slots_between(conn, practitioner_id, lo, hi)
            decision = slots.open_slots(
                practitioner_id,
                service_type,
                intervals,
                existing,
                slot_ids,
                len(agenda),
                ctx.clock(),
            )
            _commit(ctx, conn, decision)
            return [row for sid in slot_ids if (row := readmodels.slot(conn, sid)) is not None]

    opened = retrying(unit)
    log.info("slots.opened", practitioner_id=str(practitioner_id), count=len(opened))
    return opened


def book(ctx: Ctx, p: Principal, new: NewAppointment) -> UUID:
    """Hold the slot and book it for the patient; the reason is sealed with the patient's key."""
    appointment_id = uuid.uuid4()

    def unit() -> UUID:
        with ctx.pool.connection() as conn, conn.transaction():
            slot = _slot(ctx, conn, new.slot_id)
            if not may_write(p, slot.row.practitioner_id, new.patient_id):
                raise Denied("no write access to this agenda", slot.row.practitioner_id)
            _matches_slot(new, slot.row)
            if not directory.patient_exists(conn, new.patient_id):
                raise invalid("unknown patient")
            reason = _seal(ctx, conn, new.patient_id, new.reason)
            decision = appointments.book(
                slot, appointment_id, new.patient_id, reason, p.id, p.connector_id, ctx.clock()
            )
            _commit(ctx, conn, decision)
            return appointment_id

    booked = retrying(unit)
    log.info(
        "appointment.booked",
        appointment_id=str(booked),
        slot_id=str(new.slot_id),
        principal_kind=p.kind,
        principal_id=str(p.id),
    )
    return booked


def _matches_slot(new: NewAppointment, row: SlotRow) -> None:
    """A client's stated practitioner or time must be the slot's, never silently overridden."""
    if new.practitioner_id is not None and new.practitioner_id != row.practitioner_id:
        raise invalid("the practitioner is not the slot's")
    if new.start is not None and new.start != row.start:
        raise invalid("start is not the slot's start")
    if new.end is not None and new.end != row.end:
        raise invalid("end is not the slot's end")


def _seal(ctx: Ctx, conn: Connection, patient_id: UUID, text: str | None) -> dict[str, Any] | None:
    try:
        return ctx.keys.seal(patient_id, text, conn=conn)
    except KeyDestroyed:
        raise invalid("this patient's medical data was erased: no new medical text") from None


def change(ctx: Ctx, p: Principal, appointment_id: UUID, wanted: Change) -> None:
    """Apply a JSON Patch: a new status (cancel included) or a new slot (reschedule)."""

    def unit() -> None:
        current = _appointment(ctx, appointment_id)
        if current is None:
            raise not_found("appointment")
        target = ((appointment_id, current.patient_id, current.practitioner_id),)
        if not may_write(p, current.practitioner_id, current.patient_id):
            raise Denied(
                "no write access to this appointment", current.practitioner_id, targets=target
            )
        if p.kind == "patient" and wanted.status not in (None, "cancelled"):
            # Attendance (arrived, fulfilled, noshow) is the practice's to say, not the patient's.
            raise Denied(
                "a patient may cancel or move an appointment, not mark attendance",
                current.practitioner_id,
                code="forbidden",
                targets=target,
            )
        if wanted.expected_version is not None and wanted.expected_version != current.version:
            raise conflict(
                f"the appointment is at version {current.version}, not {wanted.expected_version}"
            )
        with ctx.pool.connection() as conn, conn.transaction():
            decision = _decide_change(ctx, conn, p, current, wanted)
            _commit(ctx, conn, decision)

    retrying(unit)
    log.info(
        "appointment.changed",
        appointment_id=str(appointment_id),
        status=wanted.status,
        rescheduled=wanted.slot_id is not None,
        principal_kind=p.kind,
        principal_id=str(p.id),
    )


def _decide_change(
    ctx: Ctx, conn: Connection, p: Principal, current: appointments.Appointment, wanted: Change
) -> Decision:
    if wanted.slot_id is not None:
        old, new = _slot(ctx, conn, current.slot_id), _slot(ctx, conn, wanted.slot_id)
        return appointments.reschedule(current, old, new, p.id, p.connector_id, ctx.clock())
    if wanted.status == "cancelled":
        code = (
            "connector_sync"
            if p.kind == "connector"
            else ("patient_request" if p.kind == "patient" else "other")
        )
        slot = _slot(ctx, conn, current.slot_id)
        return appointments.cancel(current, slot, code, None, p.id, p.connector_id)
    if wanted.status is None:
        raise Invalid("the patch changes nothing")
    return appointments.change_status(current, wanted.status, p.id, p.connector_id)


def destroy_medical_key(ctx: Ctx, p: Principal, patient_id: UUID, reason: str) -> str | None:
    """Crypto-shredding: the patient's data key goes, and an event says so (ids only)."""
    if not p.is_admin:
        raise Denied("only an admin may erase a patient's medical data", code="forbidden")

    def unit() -> str | None:
        with ctx.pool.connection() as conn, conn.transaction():
            if not directory.patient_exists(conn, patient_id):
                raise NotFound("no such patient")  # nothing to erase, and no event saying so
            key_id = ctx.keys.destroy(patient_id, conn=conn)
            payload = {
                "patient_id": patient_id,
                "key_id": key_id,
                "destroyed_by": p.id,
                "reason": reason,
            }
            events = new_events([("PatientMedicalKeyDestroyed", payload)])
            ctx.store.append_in(conn, f"patient-key-{patient_id}", events, None)
            return key_id

    key_id = retrying(unit)
    log.warning("patient.medical_key_destroyed", patient_id=str(patient_id), key_id=key_id)
    return key_id
