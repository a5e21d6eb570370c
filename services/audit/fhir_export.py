"""`GET /fhir/AuditEvent`: access records as a searchset Bundle of R4 AuditEvents (IHE BALP).

Search parameters: `entity` (`Appointment/<id>` or `Patient/<id>`), `agent` (a principal or
connector id), `date` (`ge`/`gt`/`lt`/`le` + an instant with its offset, repeatable), `_count`
(default 100, at most 1000), `_cursor` (from a `next` link; pages follow the ledger's order).
At least one of entity or agent, so no one dumps the whole log.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from psycopg.rows import dict_row

from services.audit.access_index import catch_up
from services.audit.fhir_audit import audit_events
from services.audit.ledger import Connection
from services.common.errors import Invalid
from services.common.http.body import parse_instant, parse_uuid, single
from services.common.instants import moved

DEFAULT_COUNT, MAX_COUNT = 100, 1000
TICK = timedelta(microseconds=1)  # the store's precision: "> t" is ">= t + 1µs"
_COLUMNS = """r.seq, r.access_id, r.principal_kind, r.principal_id, r.connector_id,
 r.network_address, r.user_agent, r.request_id, r.operation, r.query, r.purpose, r.outcome,
 r.denial_reason, r.field_classes, r.medical_decrypted, r.result_count, r.occurred_at,
 r.denial_code, r.token_fingerprint,
 (SELECT json_agg(json_build_object('appointment_id', x.appointment_id,
                                    'patient_id', x.patient_id))
    FROM audit.access_entries x WHERE x.seq = r.seq) AS entries"""


def parse_dates(values: list[str]) -> tuple[datetime | None, datetime | None]:
    """`date` values (ge, gt, le, lt + an instant) as [lower, upper); past the calendar: open."""
    lower = upper = None
    for value in values:
        prefix, text = value[:2], value[2:]
        if prefix not in ("ge", "gt", "le", "lt"):
            raise Invalid("date needs a prefix: ge, gt, le or lt")
        when = parse_instant(text, "date")
        after = moved(when, TICK)  # None past the calendar's last instant
        if prefix == "gt" and after is None:
            raise Invalid("date: nothing is after the last instant of the calendar")
        if prefix in ("ge", "gt"):
            lower = after if prefix == "gt" else when
        else:
            upper = after if prefix == "le" else when
    return lower, upper


def search(conn: Connection, args: Mapping[str, list[str]], base_url: str) -> dict[str, Any]:
    """The Bundle for these search parameters; 400 for anything it cannot honour exactly."""
    unknown = set(args) - {"entity", "agent", "date", "_count", "_cursor"}
    if unknown:
        raise Invalid(f"unsupported search parameters: {', '.join(sorted(unknown))}")
    entity, agent = single(args, "entity"), single(args, "agent")
    if entity is None and agent is None:
        raise Invalid("give entity=Appointment/<id>, entity=Patient/<id> or agent=<id>")
    count_text = single(args, "_count")
    try:
        count = min(int(count_text), MAX_COUNT) if count_text else DEFAULT_COUNT
    except ValueError:
        raise Invalid("_count must be an integer") from None
    if count < 1:
        raise Invalid("_count must be at least 1")
    since, until = parse_dates(args.get("date", []))
    where, params, keep = ["true"], [], None
    if entity is not None:
        kind, _, raw = entity.partition("/")
        if kind not in ("Appointment", "Patient"):
            raise Invalid("entity must be Appointment/<id> or Patient/<id>")
        target = parse_uuid(raw, "entity")
        column = "appointment_id" if kind == "Appointment" else "patient_id"
        where.append(
            f"EXISTS (SELECT 1 FROM audit.access_entries e WHERE e.seq = r.seq AND e.{column} = %s)"
        )
        params.append(target)
        keep = f"{kind}/{target}"
    if agent is not None:
        who = parse_uuid(agent, "agent")
        where.append("(r.principal_id = %s OR r.connector_id = %s)")
        params += [who, who]
    cursor = single(args, "_cursor")
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
            raise Invalid("_cursor is not one this server gave")
        where.append("r.seq > %s")
        params.append(int(cursor))
    for clause, value in (("r.occurred_at >= %s", since), ("r.occurred_at < %s", until)):
        if value is not None:
            where.append(clause)
            params.append(value)
    catch_up(conn)
    sql = (
        f"SELECT {_COLUMNS} FROM audit.access_requests r WHERE {' AND '.join(where)}"
        " ORDER BY r.seq LIMIT %s"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, [*params, count + 1]).fetchall()
    resources = []
    for row in rows[:count]:
        for event in audit_events(row, row["entries"] or []):
            if keep is None or any(
                x.get("what", {}).get("reference") == keep for x in event["entity"]
            ):
                resources.append(event)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": f"{base_url}/fhir/AuditEvent"}],
        "entry": [
            {
                "fullUrl": f"{base_url}/fhir/AuditEvent/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
    if len(rows) > count:
        kept = [(k, v) for k, vs in args.items() if k != "_cursor" for v in vs]
        kept.append(("_cursor", str(rows[count - 1]["seq"])))
        bundle["link"].append(
            {"relation": "next", "url": f"{base_url}/fhir/AuditEvent?{urlencode(kept)}"}
        )
    return bundle
