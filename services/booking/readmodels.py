"""Booking's read models: slots and appointments, their tables, and how searches read them.

One fold writes them, `readmodels_fold.fold`: the command path applies the events it has just
appended in the same transaction (a client's search right after its POST sees the
appointment), and `carnet replay rebuild booking.views` folds booking's whole log beside the
live tables and swaps them in (ADR 0011).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from psycopg import Connection

from services.booking.model import AppointmentRow, SlotRow
from services.common.eventstore.models import LogCursor

VIEW = "booking.appointments+slots"
_APPT_COLS = (
    "appointment_id, version, slot_id, practitioner_id, patient_id, start_at, end_at, status,"
    " service_type, reason, note, booked_by, connector_id, updated_at"
)
_SLOT_COLS = (
    "slot_id, schedule_id, practitioner_id, start_at, end_at, service_type, appointment_id,"
    " updated_at"
)
SLOTS, APPOINTMENTS = "booking.slots", "booking.appointments"
LIVE: Mapping[str, str] = {SLOTS: SLOTS, APPOINTMENTS: APPOINTMENTS}

# The event types the fold (readmodels_fold.fold) reads: a rebuild detoasts only these payloads.
FOLDED_TYPES = (
    "SlotsOpened",
    "SlotHeld",
    "SlotReleased",
    "AppointmentBooked",
    "AppointmentRescheduled",
    "AppointmentCancelled",
    "AppointmentStatusChanged",
)


def record_position(conn: Connection, cursor: LogCursor) -> None:
    """Where the read models were last rebuilt to in the log (for `carnet replay`, on-call)."""
    conn.execute(
        "INSERT INTO booking.view_positions (view_name, transaction_id, position)"
        " VALUES (%s, %s::text::xid8, %s) ON CONFLICT (view_name) DO UPDATE SET"
        " transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,"
        " rebuilt_at = now()",
        (VIEW, str(cursor.transaction_id), cursor.position),
    )


def slot(conn: Connection, slot_id: UUID) -> SlotRow | None:
    """One slot of the catalog."""
    row = conn.execute(
        f"SELECT {_SLOT_COLS} FROM booking.slots WHERE slot_id = %s", (slot_id,)
    ).fetchone()
    return SlotRow(*row) if row else None


def slots_between(
    conn: Connection, practitioner_id: UUID, start: datetime, end: datetime
) -> list[SlotRow]:
    """A practitioner's slots that meet [start, end): the overlap check reads these."""
    rows = conn.execute(
        f"SELECT {_SLOT_COLS} FROM booking.slots WHERE practitioner_id = %s"
        " AND start_at < %s AND end_at > %s ORDER BY start_at",
        (practitioner_id, end, start),
    ).fetchall()
    return [SlotRow(*r) for r in rows]


def appointment(conn: Connection, appointment_id: UUID) -> AppointmentRow | None:
    """One appointment of the view."""
    row = conn.execute(
        f"SELECT {_APPT_COLS} FROM booking.appointments WHERE appointment_id = %s",
        (appointment_id,),
    ).fetchone()
    return AppointmentRow(*row) if row else None


def search_appointments(
    conn: Connection,
    practitioner_ids: Sequence[UUID] | None,
    patient_id: UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
    statuses: Sequence[str],
    after: tuple[datetime, UUID] | None,
    limit: int,
    updated: tuple[datetime | None, datetime | None] = (None, None),
) -> list[AppointmentRow]:
    """A page of appointments by (start, id); `practitioner_ids` None means any practitioner;
    `updated` bounds the last change, [from, to) (a delta sync)."""
    where, args = ["TRUE"], []
    if practitioner_ids is not None:
        where.append("practitioner_id = ANY(%s)")
        args.append(list(practitioner_ids))
    for clause, value in (
        ("patient_id = %s", patient_id),
        ("start_at >= %s", date_from),
        ("start_at < %s", date_to),
        ("updated_at >= %s", updated[0]),
        ("updated_at < %s", updated[1]),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    if statuses:
        where.append("status = ANY(%s)")
        args.append(list(statuses))
    if after is not None:
        where.append("(start_at, appointment_id) > (%s, %s)")
        args.extend(after)
    sql = (
        f"SELECT {_APPT_COLS} FROM booking.appointments WHERE {' AND '.join(where)}"
        " ORDER BY start_at, appointment_id LIMIT %s"
    )
    return [AppointmentRow(*r) for r in conn.execute(sql, (*args, limit)).fetchall()]


def search_slots(
    conn: Connection,
    practitioner_ids: Sequence[UUID] | None,
    start_from: datetime | None,
    start_to: datetime | None,
    free_only: bool,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[SlotRow]:
    """A page of slots by (start, id)."""
    where, args = ["TRUE"], []
    if practitioner_ids is not None:
        where.append("practitioner_id = ANY(%s)")
        args.append(list(practitioner_ids))
    if start_from is not None:
        where.append("start_at >= %s")
        args.append(start_from)
    if start_to is not None:
        where.append("start_at < %s")
        args.append(start_to)
    if free_only:
        where.append("appointment_id IS NULL")
    if after is not None:
        where.append("(start_at, slot_id) > (%s, %s)")
        args.extend(after)
    sql = (
        f"SELECT {_SLOT_COLS} FROM booking.slots WHERE {' AND '.join(where)}"
        " ORDER BY start_at, slot_id LIMIT %s"
    )
    return [SlotRow(*r) for r in conn.execute(sql, (*args, limit)).fetchall()]
