"""The affected set of an incident, computed exactly from the access index and the ledger.

Who: a connector (every principal acting with its credentials) or one principal. When: a
half-open window [start, end). What: every access record in it — successes give the exposed
appointments, patients and field classes; refusals are counted apart. Each exposed appointment
comes with its state as it was when first read (what was seen), rebuilt from the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from services.audit import access_index, trace
from services.audit.ledger import Connection

CONTAINMENT_EVENTS = (
    "SuspiciousAccessDetected",
    "ConnectorSuspended",
    "ConnectorAuthorizationRevoked",
    "ConnectorSecretRotated",
    "ConnectorReinstated",
)


@dataclass(frozen=True)
class Subject:
    """Whose accesses: a connector's, or one principal's."""

    connector_id: UUID | None = None
    principal_id: UUID | None = None

    def where(self, alias: str) -> tuple[str, UUID]:
        """The SQL condition selecting this subject's rows, and its parameter."""
        if self.connector_id is not None:
            return f"{alias}.connector_id = %s", self.connector_id
        if self.principal_id is not None:
            return f"{alias}.principal_id = %s", self.principal_id
        raise ValueError("an investigation needs a connector or a principal")

    def as_subjects(self) -> list[dict[str, str]]:
        """IncidentOpened V3's subjects: this one connector or principal."""
        kind, value = (
            ("connector", self.connector_id)
            if self.connector_id
            else ("principal", self.principal_id)
        )
        return [{"kind": kind, "value": str(value)}]


_REQUESTS = """
SELECT count(*) AS requests,
       count(*) FILTER (WHERE r.outcome = 'success') AS served,
       count(*) FILTER (WHERE r.outcome <> 'success') AS denied,
       min(r.occurred_at) AS first_access_at, max(r.occurred_at) AS last_access_at,
       min(r.occurred_at) FILTER (WHERE r.outcome = 'success') AS first_read_at,
       max(r.occurred_at) FILTER (WHERE r.outcome = 'success') AS last_read_at,
       coalesce(bool_or(r.medical_decrypted), false) AS medical_decrypted,
       array(SELECT DISTINCT c FROM audit.access_requests r2, unnest(r2.field_classes) c
              WHERE {who2} AND r2.outcome = 'success'
                AND r2.occurred_at >= %(start)s AND r2.occurred_at < %(end)s
              ORDER BY c) AS field_classes,
       array_agg(DISTINCT r.network_address) AS network_addresses
  FROM audit.access_requests r
 WHERE {who} AND r.occurred_at >= %(start)s AND r.occurred_at < %(end)s
"""
_ENTRIES = """
SELECT e.appointment_id, e.patient_id, e.practitioner_id, e.occurred_at,
       r.field_classes, coalesce(r.medical_decrypted, false) AS medical_decrypted
  FROM audit.access_entries e JOIN audit.access_requests r ON r.seq = e.seq
 WHERE {who} AND r.outcome = 'success'
   AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s
 ORDER BY e.occurred_at, e.appointment_id
"""


def _per_appointment(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold read rows into one line per appointment: first and last read, reads, classes."""
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        a = out.setdefault(
            row["appointment_id"],
            {
                "appointment_id": row["appointment_id"],
                "patient_id": row["patient_id"],
                "practitioner_id": row["practitioner_id"],
                "first_read_at": row["occurred_at"],
                "last_read_at": row["occurred_at"],
                "reads": 0,
                "field_classes": set(),
                "medical_decrypted": False,
            },
        )
        a["reads"] += 1
        a["last_read_at"] = max(a["last_read_at"], row["occurred_at"])
        a["field_classes"] |= set(row["field_classes"] or ())
        a["medical_decrypted"] |= bool(row["medical_decrypted"])
    for a in out.values():
        a["field_classes"] = sorted(a["field_classes"])
    return list(out.values())


def affected_set(
    conn: Connection,
    subject: Subject,
    start: datetime,
    end: datetime,
    with_states: bool = True,
    catch_up: bool = True,
) -> dict[str, Any]:
    """The exact exposure of `subject` over [start, end), from the index (caught up first).

    Pass catch_up=False when the caller caught up already on an idle connection: catching up
    inside an open transaction would hold a transaction id while the states are rebuilt, and
    any transaction id held holds back every relay (ADR 0003).
    """
    if catch_up:
        access_index.catch_up(conn)
    clause, value = subject.where("r")
    clause2, _ = subject.where("r2")
    params = {"start": start, "end": end, "who": value}
    with conn.cursor(row_factory=dict_row) as cur:
        totals = cur.execute(
            _REQUESTS.format(
                who=clause.replace("%s", "%(who)s"), who2=clause2.replace("%s", "%(who)s")
            ),
            params,
        ).fetchone()
        rows = cur.execute(
            _ENTRIES.format(who=clause.replace("%s", "%(who)s").replace("r.", "e.", 1)), params
        ).fetchall()
    assert totals is not None
    entries = _per_appointment(rows)
    patients: dict[str, dict[str, Any]] = {}
    for e in entries:
        key = str(e["patient_id"]) if e["patient_id"] else "unknown"
        p = patients.setdefault(
            key,
            {
                "patient_id": key,
                "appointment_ids": [],
                "field_classes": set(),
                "first_access_at": e["first_read_at"],
                "last_access_at": e["last_read_at"],
                "medical_decrypted": False,
            },
        )
        p["appointment_ids"].append(str(e["appointment_id"]))
        p["field_classes"] |= set(e["field_classes"])
        p["first_access_at"] = min(p["first_access_at"], e["first_read_at"])
        p["last_access_at"] = max(p["last_access_at"], e["last_read_at"])
        p["medical_decrypted"] |= e["medical_decrypted"]
    for p in patients.values():
        p["field_classes"] = sorted(p["field_classes"])
    appointments = [
        {
            "appointment_id": str(e["appointment_id"]),
            "patient_id": str(e["patient_id"]) if e["patient_id"] else None,
            "practitioner_id": str(e["practitioner_id"]) if e["practitioner_id"] else None,
            "first_read_at": e["first_read_at"].isoformat(),
            "last_read_at": e["last_read_at"].isoformat(),
            "reads": e["reads"],
            "field_classes": e["field_classes"],
            "medical_decrypted": e["medical_decrypted"],
            "as_seen": trace.state_as_of(conn, e["appointment_id"], e["first_read_at"])
            if with_states
            else None,
        }
        for e in entries
    ]
    return {
        "subject": {
            "connector_id": _s(subject.connector_id),
            "principal_id": _s(subject.principal_id),
        },
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "requests": totals["requests"],
        "served_requests": totals["served"],
        "denied_requests": totals["denied"],
        "first_access_at": _iso(totals["first_access_at"]),
        "last_access_at": _iso(totals["last_access_at"]),
        "first_read_at": _iso(totals["first_read_at"]),
        "last_read_at": _iso(totals["last_read_at"]),
        "field_classes": list(totals["field_classes"] or []),
        "medical_decrypted": bool(totals["medical_decrypted"]),
        "network_addresses": sorted(a for a in (totals["network_addresses"] or []) if a),
        "appointment_count": len(appointments),
        "patient_count": len([k for k in patients if k != "unknown"]),
        "appointments": appointments,
        "patients": [
            {
                **p,
                "first_access_at": p["first_access_at"].isoformat(),
                "last_access_at": p["last_access_at"].isoformat(),
            }
            for p in sorted(patients.values(), key=lambda p: p["patient_id"])
        ],
    }


def containment_timeline(
    conn: Connection, connector_id: UUID | None, since: datetime
) -> list[dict[str, Any]]:
    """Detections, suspensions and revocations of this connector since `since`, from the ledger."""
    if connector_id is None:
        return []
    rows = conn.execute(
        "SELECT seq, event_type, coalesce(occurred_at, recorded_at), payload FROM audit.ledger"
        " WHERE event_type = ANY(%s) AND payload->>'connector_id' = %s"
        " AND coalesce(occurred_at, recorded_at) >= %s ORDER BY seq",
        (list(CONTAINMENT_EVENTS), str(connector_id), since),
    ).fetchall()
    return [_step(seq, event_type, at, payload) for seq, event_type, at, payload in rows]


def _step(seq: int, event_type: str, at: datetime, payload: Mapping[str, Any]) -> dict[str, Any]:
    step = {"seq": seq, "event_type": event_type, "at": at.isoformat()}
    for key in ("rule", "reason", "detection_id", "practitioner_id", "revoked_token_ids"):
        if key in payload:
            value = payload[key]
            step[key] = len(value) if key == "revoked_token_ids" else value
    return step


def _s(value: UUID | None) -> str | None:
    return str(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
