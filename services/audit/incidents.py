"""Incidents: opened as events, reported from the ledger, notified once per affected patient.

An incident names a set of subjects (connectors, principals, addresses, vendors: subjects.py).
IncidentOpened, BreachNotificationRequested and RegulatorNoticePrepared go to audit's own
store (so they reach the ledger and the bus like any event); `audit.incidents` is their read
model, written in the same transaction. The report is recomputed from the ledger on each
request: it is a view of the evidence, never a second copy of it. Notices go to the patients
whose data was exposed, never to a principal about its own data (exposure.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.audit import (
    access_index,
    attempts,
    completeness,
    containment,
    index_check,
    investigation,
    related,
    report,
)
from services.audit.completeness import Completeness
from services.audit.ledger import Connection, snapshot
from services.audit.subjects import Scope, Subject, parse, resolve
from services.common.errors import Conflict, Invalid, NotFound, Unavailable
from services.common.eventstore.decided import new_events
from services.common.eventstore.store import EventStore
from services.common.logging import get_logger

log = get_logger(__name__)
_COLUMNS = (
    "incident_id, title, subjects, window_start, window_end, aware_at, opened_by, opened_at,"
    " detection_ids, notices_requested_at, regulator_prepared_at"
)


def open_incident(
    conn: Connection,
    store: EventStore,
    *,
    opened_by: UUID,
    title: str,
    subjects: Sequence[Subject],
    start: datetime,
    end: datetime,
    aware_at: datetime,
    detection_ids: Sequence[UUID] = (),
) -> UUID:
    """Check every subject (404 for an unknown one), then append IncidentOpened and its row
    in one transaction: a refused incident leaves nothing behind."""
    if end <= start:
        raise Invalid("the window must end after it starts")
    subjects = parse(s.as_dict() for s in subjects)
    # On the idle connection: the index then knows every principal ledgered before this call,
    # and the check ends its own (read-only) transaction, so the append below is one short
    # transaction, never held open while the report is computed (ADR 0003).
    access_index.catch_up(conn)
    with conn.transaction():
        resolve(conn, subjects)  # raises NotFound before anything is written
    incident_id = uuid.uuid4()
    named = [s.as_dict() for s in subjects]
    payload = {
        "incident_id": incident_id,
        "opened_by": opened_by,
        "title": title,
        "subjects": named,
        "detection_ids": list(detection_ids),
        "window_start": start,
        "window_end": end,
        "aware_at": aware_at,
    }
    with conn.transaction():
        store.append_in(
            conn, f"incident-{incident_id}", new_events([("IncidentOpened", payload)]), 0
        )
        conn.execute(
            "INSERT INTO audit.incidents (incident_id, title, subjects, window_start,"
            " window_end, aware_at, opened_by, detection_ids)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (incident_id, title, Jsonb(named), start, end, aware_at, opened_by,
             list(detection_ids)),
        )  # fmt: skip
    log.info(
        "incident.opened",
        incident_id=str(incident_id),
        subject_kinds=sorted({s.kind for s in subjects}),
        subjects=len(subjects),
    )
    return incident_id


def get(conn: Connection, incident_id: UUID) -> dict[str, Any]:
    """The incident's row, or 404."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM audit.incidents WHERE incident_id = %s", (incident_id,)
        ).fetchone()
    if row is None:
        raise NotFound("no such incident")
    return row


def completeness_of(conn: Connection, incident_id: UUID) -> Completeness:
    """Whether the ledger holds every event of the window, up to when the incident was opened
    (what came later, the incident's own events included, is not its evidence)."""
    inc = get(conn, incident_id)
    end = min(inc["window_end"], inc["opened_at"])
    return completeness.check(conn, inc["window_start"], end)


def build_report(
    conn: Connection, incident_id: UUID, ready: Completeness | None = None
) -> dict[str, Any]:
    """Affected set (total and per subject), attempts, related activity, containment and the
    Art. 33 items, recomputed from the ledger and its index, with the completeness it rests
    on (checked here unless the caller just did)."""
    ready = ready or completeness_of(conn, incident_id)
    access_index.catch_up(conn)  # idle connection: batches commit (IndexAhead: 503, as below)
    with snapshot(conn):  # the check and the answer read the same rows
        return _built(conn, incident_id, ready)


def _built(conn: Connection, incident_id: UUID, ready: Completeness) -> dict[str, Any]:
    """The report, in the caller's snapshot, once the rows it rests on hold."""
    inc = get(conn, incident_id)
    scope = resolve(conn, parse(inc["subjects"]), strict=False)
    _index_holds(conn, inc, scope)
    evidence = investigation.gather(
        conn, scope, inc["window_start"], inc["window_end"], catch_up=False
    )
    affected = investigation.report_of(evidence, conn)
    actors = {r["principal_id"] for r in evidence.requests}
    steps = containment.timeline(
        conn,
        {*scope.connectors, *scope.principals, *actors},
        scope.addresses,
        inc["window_start"],
    )
    keys = [r.subject.key for r in scope.subjects]
    incident = {
        "incident_id": str(incident_id),
        "title": inc["title"],
        "subjects": inc["subjects"],
        "opened_by": str(inc["opened_by"]),
        "opened_at": inc["opened_at"].isoformat(),
        "aware_at": inc["aware_at"].isoformat(),
        "notices_requested_at": _iso(inc["notices_requested_at"]),
    }
    items = report.art33(incident, affected, steps, _iso(inc["regulator_prepared_at"]))
    return {
        "incident": incident,
        "affected": affected,
        "attempts": attempts.attempts(evidence, keys),
        "related": related.related(conn, evidence),
        "containment": steps,
        "art33": items,
        "to_complete": report.to_complete(items),
        "completeness": ready.as_dict(),
    }


def _index_holds(conn: Connection, inc: Mapping[str, Any], scope: Scope) -> None:
    """Refuse (nothing served) when the index disagrees with the ledger on what the report of
    this scope and window rests on."""
    wrong = index_check.check_scope(conn, scope, inc["window_start"], inc["window_end"])
    if wrong:
        log.error(
            "audit.index_disagrees",
            incident_id=str(inc["incident_id"]),
            first_seq=wrong[0].seq,
            kinds=sorted({m.kind for m in wrong}),
            rows=len(wrong),
        )
        raise Unavailable(
            f"the access index disagrees with the ledger at seq {wrong[0].seq} "
            f"({wrong[0].kind}; {len(wrong)} rows of this report): no report is served; run "
            "`carnet audit verify`, then `carnet replay rebuild audit.access_index`",
            code="index_disagrees",
        )


def request_notices(
    conn: Connection, store: EventStore, incident_id: UUID, by: UUID
) -> dict[str, Any]:
    """One BreachNotificationRequested per affected patient, once per incident (409 after);
    never from a report the ledger has not caught up with (503 and when to retry)."""
    ready = completeness_of(conn, incident_id)
    if not ready.complete:  # checked first: no report is built to be thrown away
        raise Unavailable(
            f"the ledger does not hold {ready.pending} events of the window yet: "
            "notices would miss patients; retry",
            retry_after_s=ready.retry_after_s(),
        )
    built = build_report(conn, incident_id, ready)
    with conn.transaction():
        locked = conn.execute(
            "SELECT notices_requested_at FROM audit.incidents WHERE incident_id = %s FOR UPDATE",
            (incident_id,),
        ).fetchone()
        if locked is None or locked[0] is not None:
            raise Conflict("notices were already requested for this incident")
        events = new_events(
            [
                (
                    "BreachNotificationRequested",
                    {
                        "request_id": uuid.uuid5(incident_id, p["patient_id"]),
                        "incident_id": incident_id,
                        "patient_id": p["patient_id"],
                        "appointment_ids": p["appointment_ids"],
                        "field_classes": p["field_classes"],
                        "first_access_at": p["first_access_at"],
                        "last_access_at": p["last_access_at"],
                        "channels": ["email"],
                        "template": "breach_notice_art34",
                        "locale": "fr-FR",
                    },
                )
                for p in built["affected"]["patients"]
                if p["patient_id"] != "unknown"
            ]
        )
        if events:
            store.append_in(conn, f"incident-{incident_id}-notices", events, 0)
        conn.execute(
            "UPDATE audit.incidents SET notices_requested_at = now(), notices_requested_by = %s"
            " WHERE incident_id = %s",
            (by, incident_id),
        )
    log.info("incident.notices_requested", incident_id=str(incident_id), patients=len(events))
    return {"incident_id": str(incident_id), "notices_requested": len(events)}


def regulator_notice_prepared(
    conn: Connection, store: EventStore, incident_id: UUID, by: UUID
) -> dict[str, Any]:
    """Record that the Art. 33 notice is ready (time kept against the 72-hour deadline)."""
    inc = get(conn, incident_id)
    if inc["regulator_prepared_at"] is not None:
        raise Conflict("the regulator notice was already recorded as prepared")
    with conn.transaction():
        at = conn.execute("SELECT now()").fetchone()[0]
        deadline = inc["aware_at"] + report.DEADLINE
        payload = {
            "incident_id": incident_id,
            "prepared_by": by,
            "prepared_at": at,
            "deadline": deadline,
            "within_deadline": at <= deadline,
        }
        store.append_in(
            conn,
            f"incident-{incident_id}-regulator",
            new_events([("RegulatorNoticePrepared", payload)]),
            0,
        )
        conn.execute(
            "UPDATE audit.incidents SET regulator_prepared_at = %s WHERE incident_id = %s",
            (at, incident_id),
        )
    return {
        "incident_id": str(incident_id),
        "prepared_at": at.isoformat(),
        "deadline": deadline.isoformat(),
        "within_deadline": at <= deadline,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
