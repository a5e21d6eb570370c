"""What an event adds to its subject's state, in a bounded number of batched statements.

One access record costs, whatever its page size: the reads' prior state and their new
last-read time (one statement), the minute's items (one), its counters (one), its sample row
(one) and its address and user agent (one). The subject is locked (subjects.lock) first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.audit.detection.classify import Prior
from services.audit.detection.observe import Entry

Connection = Any  # psycopg.Connection
COUNTERS = (
    "accesses", "returned", "refused", "reach_refused", "unauthenticated", "auth_failures",
    "over_quota",
)  # fmt: skip


@dataclass(frozen=True)
class Seen:
    """Whether the address is new for an established subject, and which pairs are new at all."""

    new_address: bool
    new_pairs: tuple[tuple[str, str], ...]  # (kind, value) first used by this subject now


def remember_reads(
    conn: Connection, key: str, connector: UUID | None, entries: Sequence[Entry], at: datetime
) -> list[Prior]:
    """Each served appointment's prior state, and `at` as this subject's last read of it.

    Every part of the statement sees the snapshot from before the upsert, so `prior` is what
    was known before this read. The subject's row lock keeps its reads from racing.
    """
    if not entries:
        return []
    rows = conn.execute(
        "WITH incoming AS ("
        " SELECT DISTINCT ON (e.id) e.id, e.patient, e.practitioner"
        " FROM unnest(%(a)s::uuid[], %(p)s::uuid[], %(d)s::uuid[]) AS e(id, patient, practitioner)"
        "), remembered AS ("
        " INSERT INTO audit.detection_reads AS r (subject, appointment_id, last_read_at)"
        " SELECT %(s)s, id, %(at)s FROM incoming"
        " ON CONFLICT (subject, appointment_id) DO UPDATE"
        " SET last_read_at = GREATEST(r.last_read_at, EXCLUDED.last_read_at))"
        " SELECT i.id, coalesce(i.patient, a.patient_id),"
        " coalesce(i.practitioner, a.practitioner_id), r.last_read_at, a.start_at, a.changed_at,"
        " g.granted_at, CASE WHEN g.revoked_at IS NOT NULL THEN g.revoked_at"
        "  WHEN g.expires_at <= %(at)s THEN g.expires_at END"
        " FROM incoming i"
        " LEFT JOIN audit.detection_reads r ON r.subject = %(s)s AND r.appointment_id = i.id"
        " LEFT JOIN audit.detection_appointments a ON a.appointment_id = i.id"
        " LEFT JOIN audit.detection_grants g ON g.connector_id = %(c)s"
        "  AND g.practitioner_id = coalesce(i.practitioner, a.practitioner_id)",
        {
            "s": key,
            "c": connector,
            "at": at,
            "a": [e.appointment_id for e in entries],
            "p": [e.patient_id for e in entries],
            "d": [e.practitioner_id for e in entries],
        },
    ).fetchall()
    return [Prior(*row) for row in rows]


def add_items(
    conn: Connection, key: str, minute: datetime, items: Mapping[str, Sequence[UUID]]
) -> None:
    """Remember what this minute's reads were, per kind, to count them distinct per window."""
    kinds = [kind for kind, ids in items.items() for _ in ids]
    ids = [i for values in items.values() for i in values]
    if ids:
        conn.execute(
            "INSERT INTO audit.detection_items (subject, kind, minute, item_id) "
            "SELECT %s, k, %s, i FROM unnest(%s::text[], %s::uuid[]) AS x(k, i) "
            "ON CONFLICT DO NOTHING",
            (key, minute, kinds, ids),
        )


def count(conn: Connection, key: str, minute: datetime, counters: Mapping[str, int]) -> None:
    """Add to the minute's counters; the upsert is atomic under concurrent workers."""
    values = [int(counters.get(c, 0)) for c in COUNTERS]
    columns = ", ".join(COUNTERS)
    updates = ", ".join(f"{c} = b.{c} + EXCLUDED.{c}" for c in COUNTERS)
    conn.execute(
        f"INSERT INTO audit.detection_buckets AS b (subject, minute, {columns}) "
        f"VALUES (%s, %s, {', '.join(['%s'] * len(COUNTERS))}) "
        f"ON CONFLICT (subject, minute) DO UPDATE SET {updates}",
        (key, minute, *values),
    )


def sample(conn: Connection, key: str, at: datetime, access_id: UUID, marks: Sequence[str]) -> None:
    """The record and what it counted for: a finding's evidence names a sample of them."""
    conn.execute(
        "INSERT INTO audit.detection_accesses (subject, at, access_id, marks) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (key, at, access_id, sorted(marks)),
    )


def seen(
    conn: Connection,
    key: str,
    at: datetime,
    address: str | None,
    agent: str | None,
    new_within_s: int,
) -> Seen:
    """Remember the address and user agent; say whether the address is new for the subject.

    New: first used within `new_within_s`, and not the subject's very first address (a new
    principal's first address is where it starts, not a change).
    """
    pairs = [("address", address)] if address else []
    if agent:
        pairs.append(("agent", agent[:500]))
    if not pairs:
        return Seen(False, ())
    rows = conn.execute(
        "WITH earliest AS (SELECT min(first_seen) AS at FROM audit.detection_seen"
        " WHERE subject = %(s)s AND kind = 'address'),"
        " up AS (INSERT INTO audit.detection_seen AS d (subject, kind, value, first_seen,"
        " last_seen) SELECT %(s)s, k, v, %(at)s, %(at)s FROM unnest(%(k)s::text[], %(v)s::text[])"
        " AS x(k, v) ON CONFLICT (subject, kind, value) DO UPDATE SET"
        " first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),"
        " last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)"
        " RETURNING kind, value, first_seen, (xmax = 0) AS inserted)"
        " SELECT up.kind, up.value, up.first_seen, up.inserted, earliest.at FROM up, earliest",
        {"s": key, "at": at, "k": [k for k, _ in pairs], "v": [v for _, v in pairs]},
    ).fetchall()
    new_address = any(
        kind == "address"
        and earliest is not None
        and first > earliest
        and first >= at - timedelta(seconds=new_within_s)
        for kind, _, first, _, earliest in rows
    )
    return Seen(new_address, tuple((kind, value) for kind, value, _, ins, _ in rows if ins))
