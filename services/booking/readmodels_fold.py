"""Booking's read models folded from events a batch at a time: the one function that writes them.

The command path folds the one to three events it has just appended, in their transaction
(commands._commit); `carnet replay rebuild booking.views` folds the log thousands at a time
(readmodels_projection); a batch of any size gives the rows of its events folded one by one
(tests/integration/booking/test_readmodels_fold.py). A few statements per batch, not per event:
- inserts first (a slot is opened, an appointment booked, before any event changes it),
  as one `INSERT … SELECT FROM jsonb_to_recordset(…)` each, ON CONFLICT DO NOTHING: an event
  applied twice inserts nothing;
- holds and releases reduced per slot: after a slot's last hold in the batch its value is
  known; with releases only, it becomes NULL if it was one of the released appointments;
- appointment changes kept one per event (the only rows sent one by one, pipelined), in
  (appointment, version) order, through one statement that moves a row only to a newer
  version: an older event changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

from services.booking.readmodels import APPOINTMENTS, LIVE, SLOTS
from services.common.projections.event_log import LogEvent

# Rows travel as one JSON array per statement: json.dumps runs in C, where adapting Python
# lists into PostgreSQL arrays was most of a batch's client time (make bench-rebuild).
_SLOT_INSERT = (
    "INSERT INTO {t} (slot_id, schedule_id, practitioner_id, start_at, end_at, service_type,"
    " updated_at)"
    ' SELECT slot_id, schedule_id, practitioner_id, start, "end", service_type, at'
    " FROM jsonb_to_recordset(%s::jsonb) AS r(slot_id uuid, schedule_id uuid,"
    ' practitioner_id uuid, start timestamptz, "end" timestamptz, service_type text,'
    " at timestamptz) ON CONFLICT (slot_id) DO NOTHING"
)
_BOOK_INSERT = (
    "INSERT INTO {t} (appointment_id, version, slot_id, practitioner_id, patient_id, start_at,"
    " end_at, status, service_type, reason, note, booked_by, connector_id, updated_at)"
    ' SELECT appointment_id, version, slot_id, practitioner_id, patient_id, start, "end",'
    " 'booked', service_type, reason, NULL, booked_by, connector_id, at"
    " FROM jsonb_to_recordset(%s::jsonb) AS r(appointment_id uuid, version int, slot_id uuid,"
    ' practitioner_id uuid, patient_id uuid, start timestamptz, "end" timestamptz,'
    " service_type text, reason jsonb, booked_by uuid, connector_id uuid, at timestamptz)"
    " ON CONFLICT (appointment_id) DO NOTHING"
)
# LIMIT n, written into the statement, tells the planner how many rows the JSON holds: it
# assumes 100 for any set-returning function, and then scanned a table of a few thousand
# slots for a command's one hold (0.5 ms at 6,000 slots, growing until the index wins); a
# LIMIT parameter would do the same but make PostgreSQL plan every execution afresh.
_HOLD = (
    "UPDATE {t} s SET appointment_id = r.a, updated_at = r.at FROM (SELECT * FROM"
    " jsonb_to_recordset(%s::jsonb) AS r(slot uuid, a uuid, at timestamptz) LIMIT {n}) r"
    " WHERE s.slot_id = r.slot"
)
_RELEASE = (
    "UPDATE {t} s SET appointment_id = NULL, updated_at = r.at FROM (SELECT * FROM"
    " jsonb_to_recordset(%s::jsonb) AS r(slot uuid, a uuid, at timestamptz) LIMIT {n}) r"
    " WHERE s.slot_id = r.slot AND s.appointment_id = r.a"
)
_CHANGE = (
    "UPDATE {t} SET slot_id = coalesce(%(slot)s, slot_id), start_at = coalesce(%(start)s,"
    " start_at), end_at = coalesce(%(end)s, end_at), status = coalesce(%(status)s, status),"
    " note = CASE WHEN %(set_note)s THEN %(note)s ELSE note END, version = %(version)s,"
    " updated_at = %(at)s WHERE appointment_id = %(id)s AND version < %(version)s"
)


def fold(conn: Connection, events: Sequence[LogEvent], tables: Mapping[str, str] = LIVE) -> None:
    """Apply events (JSON-form payloads, latest contracts) to `tables`: live or shadow tables."""
    slots: list[dict[str, Any]] = []
    booked: list[dict[str, Any]] = []
    holds: dict[str, list[tuple[bool, str, str]]] = {}  # slot -> [(held?, appointment, at)]
    changes: list[dict[str, Any]] = []
    for e in events:
        kind, d, version, at = e.event_type, e.data, e.stream_version, e.occurred_at
        if kind == "SlotsOpened":
            common = {k: d[k] for k in ("schedule_id", "practitioner_id", "service_type")}
            slots.extend({**s, **common, "at": at.isoformat()} for s in d["slots"])
        elif kind in ("SlotHeld", "SlotReleased"):
            op = (kind == "SlotHeld", d["appointment_id"], at.isoformat())
            holds.setdefault(d["slot_id"], []).append(op)
        elif kind == "AppointmentBooked":
            booked.append({**d, "version": version, "at": at.isoformat()})
        elif change := _change(kind, d):
            changes.append({**change, "id": d["appointment_id"], "version": version, "at": at})
    slot_table, appointment_table = tables[SLOTS], tables[APPOINTMENTS]
    if slots:
        conn.execute(_SLOT_INSERT.format(t=slot_table), (_json(slots),))
    if booked:
        conn.execute(_BOOK_INSERT.format(t=appointment_table), (_json(booked),))
    held, released = _reduce(holds)
    if held:
        conn.execute(_HOLD.format(t=slot_table, n=len(held)), (_json(held),))
    if released:
        conn.execute(_RELEASE.format(t=slot_table, n=len(released)), (_json(released),))
    change = _CHANGE.format(t=appointment_table)
    if len(changes) == 1:  # a command's one change: executemany's pipeline costs ~60 µs more
        conn.execute(change, changes[0])
    elif changes:
        changes.sort(key=lambda c: (c["id"], c["version"]))
        with conn.cursor() as cur:
            cur.executemany(change, changes)


def _change(kind: str, d: dict[str, Any]) -> dict[str, Any] | None:
    """The columns an appointment event sets; None if it is not one."""
    none = {"slot": None, "start": None, "end": None, "status": None, "set_note": False,
            "note": None}  # fmt: skip
    if kind == "AppointmentRescheduled":
        return {**none, "slot": d["slot_id"], "start": d["start"], "end": d["end"]}
    if kind == "AppointmentCancelled":
        note = None if d["note"] is None else Jsonb(d["note"])
        return {**none, "status": "cancelled", "set_note": True, "note": note}
    if kind == "AppointmentStatusChanged":
        return {**none, "status": d["status"]}
    return None


def _reduce(holds: dict[str, list[tuple[bool, str, str]]]) -> tuple[list[dict], list[dict]]:
    """Per slot, one assignment (after its last hold) or the releases that may clear it, each
    with the time of the event that set the value (the slot's meta.lastUpdated)."""
    assign, release = [], []
    for slot, ops in holds.items():
        last_hold = max((i for i, (is_hold, _a, _t) in enumerate(ops) if is_hold), default=None)
        if last_hold is None:
            release.extend({"slot": slot, "a": a, "at": at} for _h, a, at in ops)
            continue
        _held, value, changed = ops[last_hold]
        for _is_hold, appointment, at in ops[last_hold + 1 :]:  # releases only, after the hold
            if value == appointment:
                value, changed = None, at
        assign.append({"slot": slot, "a": value, "at": changed})
    return assign, release


def _json(rows: list[dict[str, Any]]) -> str:
    """Rows as the JSON array jsonb_to_recordset reads."""
    return json.dumps(rows, separators=(",", ":"))
