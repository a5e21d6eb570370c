"""A subject's window [start, end) as a Tally: counters, distinct items, sample, addresses.

Four indexed reads over the subject's rows in the window (primary keys lead with the
subject), whatever the rule; only the rules an event could have tipped ask for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts.audit import MAX_EVIDENCE_SAMPLE
from services.audit.detection.record import COUNTERS
from services.audit.detection.rules import Tally

Connection = Any  # psycopg.Connection
ITEM_FIELDS = {
    "appointment": "distinct_appointments",
    "patient": "distinct_patients",
    "reread": "rereads",
    "deep": "deep",
    "beyond": "beyond",
    "new_address": "new_address_reads",
}


def tally(
    conn: Connection,
    keys: Sequence[str],
    start: datetime,
    end: datetime,
    mark: str,
    reach: int | None,
) -> Tally:
    """What the subjects (one, or a principal and those on its address) did in [start, end),
    with a sample of the records marked `mark`."""
    window = {"s": list(keys), "start": start, "end": end, "mark": mark}
    sums = ", ".join(f"coalesce(sum({c}), 0)" for c in COUNTERS)
    counters = conn.execute(
        f"SELECT {sums} FROM audit.detection_buckets "
        "WHERE subject = ANY(%(s)s) AND minute >= %(start)s AND minute < %(end)s",
        window,
    ).fetchone()
    distinct = ", ".join(
        f"count(DISTINCT item_id) FILTER (WHERE kind = '{kind}')" for kind in ITEM_FIELDS
    )
    items = conn.execute(
        f"SELECT {distinct} FROM audit.detection_items "
        "WHERE subject = ANY(%(s)s) AND minute >= %(start)s AND minute < %(end)s",
        window,
    ).fetchone()
    access_ids = conn.execute(
        "SELECT access_id FROM audit.detection_accesses "
        "WHERE subject = ANY(%(s)s) AND at >= %(start)s AND at < %(end)s "
        "AND (%(mark)s = 'any' OR %(mark)s = ANY(marks)) "
        f"ORDER BY at, access_id LIMIT {MAX_EVIDENCE_SAMPLE}",
        window,
    ).fetchall()
    addresses = conn.execute(
        "SELECT value, new FROM (SELECT value, first_seen, last_seen,"
        " first_seen >= %(start)s"
        " AND first_seen > min(first_seen) OVER (PARTITION BY subject) AS new"
        " FROM audit.detection_seen WHERE subject = ANY(%(s)s) AND kind = 'address') x "
        "WHERE last_seen >= %(start)s ORDER BY first_seen DESC, value",
        window,
    ).fetchall()
    used = [value for value, _ in addresses]
    fields = dict(zip(COUNTERS, (int(c) for c in counters), strict=True))
    fields.update({ITEM_FIELDS[k]: int(v) for k, v in zip(ITEM_FIELDS, items, strict=True)})
    return Tally(
        start,
        end,
        **fields,
        new_addresses=sum(1 for _, new in addresses if new),
        reach=reach,
        access_ids=tuple(r[0] for r in access_ids),
        addresses=tuple(used[:MAX_EVIDENCE_SAMPLE]),
    )
