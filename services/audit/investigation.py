"""The affected set of an incident, exact in total and per subject, from the access index.

Who: a scope (services/audit/subjects.py), the union of the subjects' access records. When: a
half-open window [start, end). What: every record in it, read once (`gather`). Successes give
the exposed appointments, patients and field classes, minus each principal's reads of its own
data (services/audit/exposure.py); refusals are attempts, counted apart (attempts.py). The
total is folded from the union's rows, so an appointment two subjects read is one appointment;
each subject's figures are folded from the rows it matches. Each exposed appointment comes
with its state as it was when first read (what was seen), rebuilt from the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from services.audit import access_index, exposure, trace
from services.audit.ledger import Connection
from services.audit.subjects import Scope

_WINDOW = "r.occurred_at >= %(start)s AND r.occurred_at < %(end)s"
REQUESTS = f"""
SELECT r.seq, r.access_id, r.principal_kind, r.principal_id, r.connector_id, r.network_address,
       r.user_agent, r.request_id, r.operation, r.outcome, r.denial_code, r.denial_reason,
       r.token_fingerprint, r.field_classes, coalesce(r.medical_decrypted, false)
       AS medical_decrypted, r.occurred_at
  FROM audit.access_requests r
 WHERE {{scope}} AND {_WINDOW}
 ORDER BY r.occurred_at, r.seq
"""
# Entries and targets carry only their own ids, as text: the rest is their request's (joined in
# Python by seq), and a UUID object per id and row was most of the time a large report took.
ENTRIES = f"""
SELECT e.seq, e.appointment_id::text AS appointment_id, e.patient_id::text AS patient_id,
       e.practitioner_id::text AS practitioner_id
  FROM audit.access_requests r JOIN audit.access_entries e ON e.seq = r.seq
 WHERE {{scope}} AND r.outcome = 'success' AND {_WINDOW}
"""
TARGETS = f"""
SELECT t.seq, t.appointment_id::text AS appointment_id, t.patient_id::text AS patient_id,
       t.practitioner_id::text AS practitioner_id
  FROM audit.access_requests r JOIN audit.access_targets t ON t.seq = r.seq
 WHERE {{scope}} AND r.outcome = 'denied' AND {_WINDOW}
 ORDER BY t.seq, t.appointment_id
"""


@dataclass(frozen=True)
class Evidence:
    """The scope's records in the window: requests, what they returned, what refusals aimed at."""

    scope: Scope
    start: datetime
    end: datetime
    requests: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    targets: list[dict[str, Any]]


def statements(scope: Scope, start: datetime, end: datetime) -> dict[str, tuple[str, dict]]:
    """The statements `gather` runs, with their parameters (the bench times them too)."""
    params = {"start": start, "end": end, **scope.params()}
    where = scope.where("r")
    return {name: (sql.format(scope=where), params) for name, sql in
            (("requests", REQUESTS), ("entries", ENTRIES), ("targets", TARGETS))}  # fmt: skip


def gather(
    conn: Connection, scope: Scope, start: datetime, end: datetime, catch_up: bool = True
) -> Evidence:
    """Read the scope's records once; each tagged with the subjects it belongs to, each entry
    with what exposure needs of its request.

    Pass catch_up=False when the caller caught up already on an idle connection: catching up
    inside an open transaction would hold a transaction id while the states are rebuilt, and
    any transaction id held holds back every relay (ADR 0003).
    """
    if catch_up:
        access_index.catch_up(conn)
    found: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for name, (sql, params) in statements(scope, start, end).items():
            found[name] = cur.execute(sql, params).fetchall()
    requests = {}
    for r in found["requests"]:
        r["subjects"] = scope.matches(r)
        requests[r["seq"]] = r
        r["principal_text"] = str(r["principal_id"]) if r["principal_id"] else None
    for e in found["entries"]:  # what exposure.is_own and the fold read of the request
        r = requests[e["seq"]]
        e["occurred_at"], e["subjects"] = r["occurred_at"], r["subjects"]
        e["principal_kind"], e["principal_id"] = r["principal_kind"], r["principal_text"]
        e["field_classes"], e["medical_decrypted"] = r["field_classes"], r["medical_decrypted"]
    return Evidence(scope, start, end, found["requests"], found["entries"], found["targets"])


def _per_subject(
    evidence: Evidence, exposed: list[dict[str, Any]], total: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each subject's own figures, from the rows it matches (they may overlap another's); a
    subject every record matches (the only one, say) has the total's, folded once."""
    out = []
    for i, resolved in enumerate(evidence.scope.subjects):
        requests = [r for r in evidence.requests if i in r["subjects"]]
        if len(requests) == len(evidence.requests):
            mine = total
        else:
            mine = exposure.per_appointment(e for e in exposed if i in e["subjects"])
        own = [e for e in evidence.entries if i in e["subjects"] and exposure.is_own(e)]
        out.append(
            {
                **resolved.as_dict(),
                **exposure.requests_summary(requests),
                **exposure.summary(mine),
                "appointment_ids": sorted(a["appointment_id"] for a in mine),
                "patient_ids": sorted({a["patient_id"] for a in mine if a["patient_id"]}),
                "own_data": exposure.own_data(own),
            }
        )
    return out


def report_of(evidence: Evidence, conn: Connection | None = None) -> dict[str, Any]:
    """The affected set: in total (the union, each appointment once) and per subject.

    With a connection, each appointment carries its state as first seen (`as_seen`).
    """
    exposed = [e for e in evidence.entries if not exposure.is_own(e)]
    own = [e for e in evidence.entries if exposure.is_own(e)]
    keys = [r.subject.key for r in evidence.scope.subjects]
    appointments = exposure.per_appointment(exposed)
    lines = []
    for a in appointments:
        line = exposure.appointment_line(a, keys)
        if conn is not None:
            line["as_seen"] = trace.state_as_of(conn, UUID(a["appointment_id"]), a["first_read_at"])
        else:
            line["as_seen"] = None
        lines.append(line)
    return {
        "subjects": [r.as_dict() for r in evidence.scope.subjects],
        "window": {"start": evidence.start.isoformat(), "end": evidence.end.isoformat()},
        **exposure.requests_summary(evidence.requests),
        **exposure.summary(appointments),
        "appointments": lines,
        "patients": exposure.per_patient(appointments, keys),
        "own_data": exposure.own_data(own),
        "per_subject": _per_subject(evidence, exposed, appointments),
    }


def affected_set(
    conn: Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    with_states: bool = True,
    catch_up: bool = True,
) -> dict[str, Any]:
    """The exact exposure of the scope over [start, end), from the index (caught up first)."""
    evidence = gather(conn, scope, start, end, catch_up=catch_up)
    return report_of(evidence, conn if with_states else None)
