"""Linked principals: one operator behind several credentials (a finding's linked_principal_ids).

Principals are linked when, within the link window, they used the same source address or the
same user agent, or when they are connectors of one vendor or of one registrant (registered
under one contact e-mail, whatever vendor name each was given). A value shared by more than
`link_max_group` principals is not a link: that is a product many run, or a shared network,
and linking it would throttle honest strangers. Principals an operator trusts are left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.audit_containment import MAX_LINKED
from services.audit.detection.settings import DetectionSettings

Connection = Any  # psycopg.Connection
# Only principals' subjects are plain ids; addresses and tokens are 'address:...', 'token:...'.
PRINCIPALS_ONLY = "o.subject NOT LIKE '%%:%%'"


def linked(conn: Connection, key: str, at: datetime, s: DetectionSettings) -> list[UUID]:
    """The principals linked to this one, strongest first (address, user agent, registrant,
    vendor)."""
    since = at - timedelta(seconds=s.link_window_s)
    rows = conn.execute(
        "WITH mine AS (SELECT kind, value FROM audit.detection_seen"
        " WHERE subject = %(s)s AND last_seen >= %(since)s),"
        " shared AS (SELECT m.kind, m.value, o.subject FROM mine m JOIN audit.detection_seen o"
        f" ON o.kind = m.kind AND o.value = m.value AND o.last_seen >= %(since)s"
        f" AND {PRINCIPALS_ONLY}),"
        " groups AS (SELECT kind, value, array_agg(subject) AS members FROM shared"
        " GROUP BY kind, value HAVING count(*) <= %(max)s),"
        " vendor AS (SELECT array_agg(o.connector_id::text) AS members"
        " FROM audit.detection_connectors me JOIN audit.detection_connectors o"
        " ON o.vendor = me.vendor WHERE me.connector_id::text = %(s)s"
        " HAVING count(*) <= %(max)s),"
        " registrant AS (SELECT array_agg(o.connector_id::text) AS members"
        " FROM audit.detection_connectors me JOIN audit.detection_connectors o"
        " ON o.registrant = me.registrant WHERE me.connector_id::text = %(s)s"
        " HAVING count(*) <= %(max)s)"
        " SELECT CASE kind WHEN 'address' THEN 0 ELSE 1 END, members FROM groups"
        " UNION ALL SELECT 2, members FROM registrant WHERE members IS NOT NULL"
        " UNION ALL SELECT 3, members FROM vendor WHERE members IS NOT NULL ORDER BY 1",
        {"s": key, "since": since, "max": s.link_max_group},
    ).fetchall()
    found: dict[str, None] = {}
    for _, members in rows:
        for member in members:
            if member != key:
                found.setdefault(member, None)
    ids = [UUID(m) for m in found]
    return _untrusted(conn, ids, at)[:MAX_LINKED]


def on_its_address(conn: Connection, key: str, at: datetime, s: DetectionSettings) -> list[str]:
    """Principals (not trusted now) that used an address this one used, within the link
    window, in a group small enough to be a link: one operator's several credentials."""
    since = at - timedelta(seconds=s.link_window_s)
    rows = conn.execute(
        "WITH mine AS (SELECT value FROM audit.detection_seen"
        " WHERE subject = %(s)s AND kind = 'address' AND last_seen >= %(since)s),"
        " groups AS (SELECT m.value, array_agg(o.subject) AS members FROM mine m"
        " JOIN audit.detection_seen o ON o.kind = 'address' AND o.value = m.value"
        f" AND o.last_seen >= %(since)s AND {PRINCIPALS_ONLY}"
        " GROUP BY m.value HAVING count(*) <= %(max)s)"
        " SELECT DISTINCT m FROM groups, unnest(members) AS m WHERE m <> %(s)s",
        {"s": key, "since": since, "max": s.link_max_group},
    ).fetchall()
    return [str(i) for i in _untrusted(conn, [UUID(r[0]) for r in rows], at)]


def _untrusted(conn: Connection, ids: list[UUID], at: datetime) -> list[UUID]:
    """Drop the principals an operator trusts now: no automatic response reaches them."""
    if not ids:
        return []
    rows = conn.execute(
        "SELECT principal_id FROM audit.detection_trust WHERE principal_id = ANY(%s) "
        "AND until > %s",
        (ids, at),
    ).fetchall()
    trusted = {r[0] for r in rows}
    return [i for i in ids if i not in trusted]


def contained_links(
    conn: Connection, key: str, pairs: tuple[tuple[str, str], ...], at: datetime,
    s: DetectionSettings,
) -> int:  # fmt: skip
    """How many principals sharing a pair this subject just started using were throttled or
    suspended within D9's window (the pair must still be a link: a small group)."""
    if not pairs:
        return 0
    since = at - timedelta(seconds=s.link_window_s)
    (count,) = conn.execute(
        "WITH pairs AS (SELECT * FROM unnest(%(k)s::text[], %(v)s::text[]) AS p(kind, value)),"
        " groups AS (SELECT p.kind, p.value, array_agg(o.subject) AS members FROM pairs p"
        " JOIN audit.detection_seen o ON o.kind = p.kind AND o.value = p.value"
        f" AND o.last_seen >= %(since)s AND {PRINCIPALS_ONLY}"
        " GROUP BY p.kind, p.value HAVING count(*) <= %(max)s)"
        " SELECT count(DISTINCT c.subject) FROM groups g, unnest(g.members) AS m(subject)"
        " JOIN audit.detection_cooldowns c ON c.subject = m.subject"
        " WHERE m.subject <> %(s)s AND c.rank >= 1 AND c.fired_at >= %(contained)s"
        " AND c.rule <> %(d9)s",  # containment by links does not spread links further
        {
            "s": key,
            "k": [k for k, _ in pairs],
            "v": [v for _, v in pairs],
            "since": since,
            "max": s.link_max_group,
            "contained": at - timedelta(seconds=s.d9_window_s),
            "d9": "D9_linked",
        },
    ).fetchone()
    return int(count)
