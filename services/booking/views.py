"""Booking's read models: slots and appointments, applied from events, and how searches read them.

`apply` is the one projection function: the command path calls it in the transaction that
appends the events (a client's search right after its POST sees the appointment), and
`rebuild` replays it over booking's whole log, in gap-free order, from position 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from services.booking.model import AppointmentRow, SlotRow
from services.common.eventstore.models import LogCursor, RecordedEvent
from services.common.eventstore.store import EventStore

VIEW = "booking.appointments+slots"
_APPT_COLS = (
    "appointment_id, version, slot_id, practitioner_id, patient_id, start_at, end_at, status,"
    " service_type, reason, note, booked_by, connector_id, updated_at"
)
_SLOT_COLS = "slot_id, schedule_id, practitioner_id, start_at, end_at, service_type, appointment_id"


def _blob(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


SLOTS, APPOINTMENTS = "booking.slots", "booking.appointments"
LIVE: Mapping[str, str] = {SLOTS: SLOTS, APPOINTMENTS: APPOINTMENTS}


@dataclass(frozen=True)
class _Writes:
    """The projection's statements against one pair of tables (the live ones, or shadows)."""

    open_slot: str
    hold: str
    release: str
    book: str
    update: str  # formatted with the SET clause


@lru_cache(maxsize=8)
def _writes(slots: str, appointments: str) -> _Writes:
    return _Writes(
        open_slot=f"INSERT INTO {slots} (slot_id, schedule_id, practitioner_id, start_at,"
        " end_at, service_type) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (slot_id) DO NOTHING",
        hold=f"UPDATE {slots} SET appointment_id = %s WHERE slot_id = %s",
        release=f"UPDATE {slots} SET appointment_id = NULL"
        " WHERE slot_id = %s AND appointment_id = %s",
        book=f"INSERT INTO {appointments} ({_APPT_COLS}) VALUES"
        " (%s, %s, %s, %s, %s, %s, %s, 'booked', %s, %s, NULL, %s, %s, %s)"
        " ON CONFLICT (appointment_id) DO NOTHING",
        update=f"UPDATE {appointments} SET {{}}, version = %s, updated_at = %s"
        " WHERE appointment_id = %s AND version < %s",
    )


def apply(
    conn: Connection,
    event_type: str,
    d: dict[str, Any],
    version: int,
    at: Any,
    tables: Mapping[str, str] = LIVE,
) -> None:
    """Reflect one booking event (JSON-form payload, its stream version, its time) in the views.

    `tables` maps the live table names to the ones to write: `carnet replay rebuild` passes
    shadow tables (services/common/projections).
    """
    w = _writes(tables[SLOTS], tables[APPOINTMENTS])
    if event_type == "SlotsOpened":
        for s in d["slots"]:
            conn.execute(
                w.open_slot,
                (
                    s["slot_id"],
                    d["schedule_id"],
                    d["practitioner_id"],
                    s["start"],
                    s["end"],
                    d["service_type"],
                ),
            )
    elif event_type == "SlotHeld":
        conn.execute(w.hold, (d["appointment_id"], d["slot_id"]))
    elif event_type == "SlotReleased":
        conn.execute(w.release, (d["slot_id"], d["appointment_id"]))
    elif event_type == "AppointmentBooked":
        conn.execute(
            w.book,
            (
                d["appointment_id"],
                version,
                d["slot_id"],
                d["practitioner_id"],
                d["patient_id"],
                d["start"],
                d["end"],
                d["service_type"],
                _blob(d["reason"]),
                d["booked_by"],
                d["connector_id"],
                at,
            ),
        )
    elif event_type == "AppointmentRescheduled":
        _update(
            conn,
            w,
            d,
            version,
            at,
            "slot_id = %s, start_at = %s, end_at = %s",
            (d["slot_id"], d["start"], d["end"]),
        )
    elif event_type == "AppointmentCancelled":
        _update(conn, w, d, version, at, "status = 'cancelled', note = %s", (_blob(d["note"]),))
    elif event_type == "AppointmentStatusChanged":
        _update(conn, w, d, version, at, "status = %s", (d["status"],))


# The event types `apply` folds: a rebuild reads only these payloads.
FOLDED_TYPES = (
    "SlotsOpened",
    "SlotHeld",
    "SlotReleased",
    "AppointmentBooked",
    "AppointmentRescheduled",
    "AppointmentCancelled",
    "AppointmentStatusChanged",
)


def _update(
    conn: Connection,
    w: _Writes,
    d: dict[str, Any],
    version: int,
    at: Any,
    sets: str,
    args: tuple,
) -> None:
    """Only a newer version moves a row: a replayed older event changes nothing."""
    conn.execute(w.update.format(sets), (*args, version, at, d["appointment_id"], version))


def record_position(conn: Connection, cursor: LogCursor) -> None:
    """Where the views were last rebuilt to in booking's log (for `carnet replay` and on-call)."""
    conn.execute(
        "INSERT INTO booking.view_positions (view_name, transaction_id, position)"
        " VALUES (%s, %s::text::xid8, %s) ON CONFLICT (view_name) DO UPDATE SET"
        " transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,"
        " rebuilt_at = now()",
        (VIEW, str(cursor.transaction_id), cursor.position),
    )


def rebuild(conn: Connection, store: EventStore, page: int = 1000) -> tuple[int, LogCursor]:
    """Empty the views and replay booking's log from position 0 in one transaction.

    Blocks booking's writers for the whole replay: `carnet replay rebuild booking.views`
    rebuilds beside the live tables instead and swaps them in under a short lock.
    """
    conn.execute("DELETE FROM booking.slots")
    conn.execute("DELETE FROM booking.appointments")
    cursor, applied = LogCursor.start(), 0
    while events := store.read_all(cursor, limit=page):
        for e in events:
            at = e.metadata.get("occurred_at") or e.recorded_at
            apply(conn, e.event_type, e.data, e.stream_version, at)
            applied += 1
        cursor = events[-1].cursor
    record_position(conn, cursor)
    return applied, cursor


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
) -> list[AppointmentRow]:
    """A page of appointments by (start, id); `practitioner_ids` None means any practitioner."""
    where, args = ["TRUE"], []
    if practitioner_ids is not None:
        where.append("practitioner_id = ANY(%s)")
        args.append(list(practitioner_ids))
    for clause, value in (
        ("patient_id = %s", patient_id),
        ("start_at >= %s", date_from),
        ("start_at < %s", date_to),
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


def apply_recorded(conn: Connection, events: Iterable[RecordedEvent]) -> None:
    """Apply events as the store returned them (used after an inline append)."""
    for e in events:
        at = e.metadata.get("occurred_at") or e.recorded_at
        apply(conn, e.event_type, e.data, e.stream_version, at)
