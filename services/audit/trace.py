"""Replay and trace for investigators, read from the ledger and its access index (no HTTP).

The ledger keeps payloads as received, so medical fields are sealed blobs here: they are shown
as the string "encrypted", never decrypted (audit holds no patient key). Each query catches the
index up first, so a record ledgered before the call is in its answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from contracts.booking_access import denial_code_of
from contracts.common import FIELD_CLASSES
from contracts.errors import ContractError
from contracts.registry import REGISTRY
from services.audit.access_index import catch_up
from services.audit.canonical import format_timestamp
from services.audit.ledger import Connection

ENCRYPTED = "encrypted"
SLOT_EVENTS = ("SlotHeld", "SlotReleased")
# Who acted, per appointment event (booking's contracts); other events name no actor.
ACTORS = {
    "AppointmentBooked": "booked_by",
    "AppointmentRescheduled": "rescheduled_by",
    "AppointmentCancelled": "cancelled_by",
    "AppointmentStatusChanged": "changed_by",
}

_CHANGES = """
SELECT seq, event_id, stream_version, event_type, schema_version, payload, metadata,
       coalesce(occurred_at, recorded_at) AS at
  FROM audit.ledger WHERE source_service = 'booking' AND stream_id = %(stream)s
UNION ALL
SELECT seq, event_id, stream_version, event_type, schema_version, payload, metadata,
       coalesce(occurred_at, recorded_at) AS at
  FROM audit.ledger
 WHERE event_type IN ('SlotHeld', 'SlotReleased') AND source_service = 'booking'
   AND payload ->> 'appointment_id' = %(appointment)s
ORDER BY seq
"""
_REQUEST = """r.seq, r.access_id, r.principal_kind, r.principal_id, r.connector_id,
 r.network_address, r.user_agent, r.request_id, r.operation, r.query, r.purpose, r.outcome,
 r.denial_reason, r.field_classes, r.medical_decrypted, r.result_count, r.occurred_at,
 r.denial_code, r.token_fingerprint"""


def _pairs(table: str, condition: str) -> str:
    """The record's entries (what it returned) or targets (what it aimed at), as JSON."""
    return (
        "(SELECT json_agg(json_build_object('appointment_id', x.appointment_id,"
        " 'patient_id', x.patient_id, 'practitioner_id', x.practitioner_id))"
        f" FROM audit.{table} x WHERE x.seq = r.seq{condition})"
    )


# The records that returned `column`'s value, or aimed at it and were refused, with only the
# entries and targets naming it: another patient's appointments in the same read stay hidden.
def _naming(column: str, window: str = "") -> str:
    only = f" AND x.{column} = %(id)s"
    return f"""
WITH hits AS (
  SELECT seq FROM audit.access_entries x WHERE x.{column} = %(id)s{window}
  UNION
  SELECT seq FROM audit.access_targets x WHERE x.{column} = %(id)s{window})
SELECT {_REQUEST}, {_pairs("access_entries", only)} AS entries,
       {_pairs("access_targets", only)} AS targets
  FROM audit.access_requests r JOIN hits ON hits.seq = r.seq
 ORDER BY r.occurred_at, r.seq"""


_APPOINTMENT_ACCESSES = _naming("appointment_id")
_STREAM = """
SELECT stream_version, event_type, schema_version, payload,
       coalesce(occurred_at, recorded_at) AS at
  FROM audit.ledger WHERE source_service = 'booking' AND stream_id = %s
 ORDER BY stream_version, seq
"""


def redact(value: Any) -> Any:
    """Every sealed blob (an object with a ciphertext) becomes "encrypted", at any depth."""
    if isinstance(value, Mapping):
        if "ciphertext" in value:
            return ENCRYPTED
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _upcast(event_type: str, version: int, payload: Any) -> dict[str, Any]:
    """The payload at the latest contract version; as stored when no contract knows it."""
    data = dict(payload) if isinstance(payload, Mapping) else {}
    try:
        return REGISTRY.upcast(event_type, version, data)[1]
    except ContractError:
        return data


def classes_in(event_type: str, payload: Mapping[str, Any]) -> list[str]:
    """The data classes of the non-empty top-level fields, per the contract's metadata."""
    try:
        schema = REGISTRY.contract(event_type).schema()
    except ContractError:
        return []
    found = {
        f.metadata.get("data_class")
        for name, f in schema.fields.items()
        if payload.get(f.data_key or name) is not None
    }
    return [c for c in FIELD_CLASSES if c in found]


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _listed(items: Any) -> list[dict[str, str | None]]:
    """Entries or targets as JSON, by appointment id."""
    out = [
        {k: _str(e.get(k)) for k in ("appointment_id", "patient_id", "practitioner_id")}
        for e in items or []
    ]
    return sorted(out, key=lambda e: e["appointment_id"] or "")


def denial_code(row: Mapping[str, Any]) -> str | None:
    """The record's denial code; one indexed before codes were kept is classed by its reason."""
    if row["outcome"] != "denied":
        return None
    return row.get("denial_code") or denial_code_of(row.get("denial_reason"))


def _access(row: Mapping[str, Any]) -> dict[str, Any]:
    """An access record as JSON, with the appointments it returned (and those it aimed at)."""
    entries = _listed(row.get("entries"))
    return {
        "seq": row["seq"],
        "at": format_timestamp(row["occurred_at"]),
        "kind": "access",
        "event_type": "AppointmentsAccessed",
        "access_id": _str(row["access_id"]),
        "who": {
            "principal_kind": row["principal_kind"],
            "principal_id": _str(row["principal_id"]),
            "connector_id": _str(row["connector_id"]),
        },
        "network_address": row["network_address"],
        "user_agent": row["user_agent"],
        "request_id": row["request_id"],
        "operation": row["operation"],
        "query": row["query"],
        "purpose": row["purpose"],
        "field_classes": list(row["field_classes"] or []),
        "medical_decrypted": row["medical_decrypted"],
        "outcome": row["outcome"],
        "denial_reason": row["denial_reason"],
        "denial_code": denial_code(row),
        "token_fingerprint": row.get("token_fingerprint"),
        "result_count": row["result_count"],
        "appointment_ids": [e["appointment_id"] for e in entries],
        "entries": entries,
        "targets": _listed(row.get("targets")),
    }


def _change(row: Mapping[str, Any]) -> dict[str, Any]:
    """A domain event as JSON: its actor, its data classes, medical fields as "encrypted"."""
    payload = _upcast(row["event_type"], row["schema_version"], row["payload"])
    actor = ACTORS.get(row["event_type"])
    metadata = row["metadata"] if isinstance(row["metadata"], Mapping) else {}
    return {
        "seq": row["seq"],
        "at": format_timestamp(row["at"]),
        "kind": "change",
        "event_type": row["event_type"],
        "event_id": str(row["event_id"]),
        "stream_version": row["stream_version"],
        "who": {
            "principal_kind": None,  # the events name the actor's id, not their kind
            "principal_id": _str(payload.get(actor)) if actor else None,
            "connector_id": _str(payload.get("connector_id")),
        },
        "network_address": None,
        "field_classes": classes_in(row["event_type"], payload),
        "outcome": None,
        "correlation_id": metadata.get("correlation_id"),
        "payload": redact(payload),
    }


def history(conn: Connection, appointment_id: UUID) -> list[dict[str, Any]]:
    """Every change to the appointment and every access naming it, in ledger seq order."""
    catch_up(conn)
    params = {"stream": f"appointment-{appointment_id}", "appointment": str(appointment_id)}
    with conn.cursor(row_factory=dict_row) as cur:
        changes = [_change(r) for r in cur.execute(_CHANGES, params).fetchall()]
        reads = cur.execute(_APPOINTMENT_ACCESSES, {"id": appointment_id}).fetchall()
    items = changes + [_access(r) for r in reads]
    items.sort(key=lambda item: item["seq"])
    return items


def fold(events: Iterable[tuple[str, Mapping[str, Any], datetime]]) -> dict[str, Any] | None:
    """booking's appointment fold (booking/domain/appointments.py), as an administrative view."""
    state: dict[str, Any] | None = None
    for event_type, d, at in events:
        if event_type == "AppointmentBooked":
            state = {
                "appointment_id": _str(d.get("appointment_id")),
                "status": "booked",
                "start": d.get("start"),
                "end": d.get("end"),
                "practitioner_id": _str(d.get("practitioner_id")),
                "patient_id": _str(d.get("patient_id")),
                "slot_id": _str(d.get("slot_id")),
                "service_type": d.get("service_type"),
                "reason": ENCRYPTED if d.get("reason") is not None else None,
                "version": 0,
            }
        elif state is None:
            continue
        elif event_type == "AppointmentRescheduled":
            state.update(slot_id=_str(d.get("slot_id")), start=d.get("start"), end=d.get("end"))
        elif event_type == "AppointmentCancelled":
            state["status"] = "cancelled"
        elif event_type == "AppointmentStatusChanged":
            state["status"] = d.get("status")
        state["version"] += 1
        state["last_event_at"] = format_timestamp(at)
    return state


def state_as_of(conn: Connection, appointment_id: UUID, as_of: datetime) -> dict[str, Any] | None:
    """The appointment as it stood at `as_of` (aware): None if it was not booked by then.

    The stream is folded in version order and stops at its first event after `as_of`, so a
    producer clock that ran backwards cannot fold a later event under an earlier one.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of needs a timezone")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_STREAM, (f"appointment-{appointment_id}",)).fetchall()
    prefix = []
    for row in rows:
        if row["at"] > as_of:
            break
        payload = _upcast(row["event_type"], row["schema_version"], row["payload"])
        prefix.append((row["event_type"], payload, row["at"]))
    return fold(prefix)


def accesses(
    conn: Connection,
    *,
    principal_id: UUID | None = None,
    connector_id: UUID | None = None,
    patient_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Access records in time order, [since, until); for a patient, the reads of their
    appointments and the refused attempts on them, with only that patient's entries and targets."""
    catch_up(conn)
    params: dict[str, Any] = {"since": since, "until": until, "limit": limit}
    window = "".join(
        clause
        for clause, value in (
            (" AND {t}.occurred_at >= %(since)s", since),
            (" AND {t}.occurred_at < %(until)s", until),
        )
        if value is not None
    )
    if patient_id is not None:
        params["id"] = patient_id
        query = _naming("patient_id", window.format(t="x")) + " LIMIT %(limit)s"
    else:
        who = " AND ".join(
            f"r.{column} = %({column})s"
            for column, value in (("principal_id", principal_id), ("connector_id", connector_id))
            if value is not None
        )
        params.update(principal_id=principal_id, connector_id=connector_id)
        query = f"""
SELECT {_REQUEST}, {_pairs("access_entries", "")} AS entries,
       {_pairs("access_targets", "")} AS targets
  FROM audit.access_requests r WHERE {who or "true"}{window.format(t="r")}
 ORDER BY r.occurred_at, r.seq LIMIT %(limit)s"""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    return [_access(r) for r in rows]
