"""The ledger against each service's own store: every source event present, none invented.

Runs in SQL, beside the data: jsonb equality compares payloads canonically (key order and
number spelling do not matter), and no payload ever comes back to Python or into a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from services.audit.ledger import Connection

# Fields of a ledger row the source store can vouch for; recorded_at and seq are the
# ledger's own, protected by the hash chain and the signed tree heads instead.
_DIFFS = """
SELECT l.seq, l.event_id, e.event_id IS NULL AS absent,
       array_remove(ARRAY[
         CASE WHEN e.data IS DISTINCT FROM l.payload THEN 'payload' END,
         CASE WHEN e.event_type IS DISTINCT FROM l.event_type THEN 'event_type' END,
         CASE WHEN e.schema_version IS DISTINCT FROM l.schema_version THEN 'schema_version' END,
         CASE WHEN e.stream_id IS DISTINCT FROM l.stream_id THEN 'stream_id' END,
         CASE WHEN e.stream_version IS DISTINCT FROM l.stream_version THEN 'stream_version' END,
         CASE WHEN e.position IS DISTINCT FROM l.source_position THEN 'source_position' END,
         CASE WHEN coalesce(e.metadata->>'correlation_id', e.event_id::text)
                   IS DISTINCT FROM l.metadata->>'correlation_id' THEN 'correlation_id' END
       ], NULL) AS fields
  FROM audit.ledger l
  LEFT JOIN {events} e ON e.event_id = l.event_id
 WHERE l.source_service = %(service)s
   AND (e.event_id IS NULL OR e.data IS DISTINCT FROM l.payload
        OR e.event_type IS DISTINCT FROM l.event_type
        OR e.schema_version IS DISTINCT FROM l.schema_version
        OR e.stream_id IS DISTINCT FROM l.stream_id
        OR e.stream_version IS DISTINCT FROM l.stream_version
        OR e.position IS DISTINCT FROM l.source_position
        OR coalesce(e.metadata->>'correlation_id', e.event_id::text)
           IS DISTINCT FROM l.metadata->>'correlation_id')
 ORDER BY l.seq
 LIMIT %(limit)s
"""

# Older than the grace period: time enough for relay, broker and ingest to have done their work.
_MISSING = """
SELECT e.event_id, e.position, count(*) OVER () AS total
  FROM {events} e
 WHERE e.recorded_at < now() - make_interval(secs => %(grace)s)
   AND NOT EXISTS (SELECT FROM audit.ledger l WHERE l.event_id = e.event_id)
 ORDER BY e.position
 LIMIT %(limit)s
"""

_SOURCE_COUNT = (
    "SELECT count(*) FROM {events} WHERE recorded_at < now() - make_interval(secs => %s)"
)

_FOREIGN = """
SELECT seq, event_id FROM audit.ledger
 WHERE source_service <> ALL(%(services)s) ORDER BY seq LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Mismatch:
    """One disagreement with a source store; kind is missing, invented or altered."""

    kind: str
    seq: int | None
    event_id: str
    detail: str


def cross_check(
    conn: Connection, services: Sequence[str], grace_seconds: float, limit: int
) -> tuple[list[Mismatch], dict[str, int]]:
    """Mismatches, and how many source events per service were old enough to be checked."""
    found: list[Mismatch] = []
    checked: dict[str, int] = {}
    for service in services:
        if conn.execute("SELECT to_regclass(%s)", (f"{service}.events",)).fetchone()[0] is None:
            found.append(Mismatch("source_unreadable", None, "", f"no {service}.events table"))
            continue
        events = sql.Identifier(service, "events")
        checked[service] = int(
            conn.execute(sql.SQL(_SOURCE_COUNT).format(events=events), (grace_seconds,)).fetchone()[
                0
            ]
        )
        rows = conn.execute(
            sql.SQL(_DIFFS).format(events=events), {"service": service, "limit": limit}
        ).fetchall()
        for seq, event_id, absent, fields in rows:
            if absent:
                found.append(Mismatch("invented", seq, str(event_id), f"not in {service}.events"))
            else:
                found.append(
                    Mismatch(
                        "altered",
                        seq,
                        str(event_id),
                        f"differs from {service}.events in {', '.join(fields)}",
                    )
                )
        for event_id, position, total in conn.execute(
            sql.SQL(_MISSING).format(events=events), {"grace": grace_seconds, "limit": limit}
        ):
            found.append(
                Mismatch(
                    "missing",
                    None,
                    str(event_id),
                    f"{service}.events position {position} not in the ledger "
                    f"({total} missing from {service} in all)",
                )
            )
    for seq, event_id in conn.execute(_FOREIGN, {"services": list(services), "limit": limit}):
        found.append(Mismatch("invented", seq, str(event_id), "unknown source service"))
    return found, checked
