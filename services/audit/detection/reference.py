"""Reference facts in PostgreSQL (migration 0022): appointments, grants, vendors, trust.

Booking's appointment events say whose each appointment is, when it starts and when it last
changed; identity's events say which agendas a connector may read, its vendor, and whom an
operator trusts. Each upsert is idempotent and order-tolerant (the latest event time wins),
as events of different queues arrive in no fixed order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.audit.detection.observe import Change, Grant, Trust, Vendor
from services.audit.detection.settings import DetectionSettings

Connection = Any  # psycopg.Connection
Fact = Change | Grant | Vendor | Trust
# Booked or changed: the latest event sets the start and agenda; changed_at only moves forward.
UPSERT_APPOINTMENT = (
    "INSERT INTO audit.detection_appointments AS a "
    "(appointment_id, practitioner_id, patient_id, start_at, changed_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (appointment_id) DO UPDATE SET "
    "start_at = CASE WHEN EXCLUDED.changed_at >= a.changed_at "
    "  THEN EXCLUDED.start_at ELSE a.start_at END, "
    "practitioner_id = CASE WHEN EXCLUDED.changed_at >= a.changed_at "
    "  THEN EXCLUDED.practitioner_id ELSE a.practitioner_id END, "
    "changed_at = GREATEST(a.changed_at, EXCLUDED.changed_at)"
)


def apply(conn: Connection, fact: Fact) -> None:
    """Record one reference fact (caller's transaction)."""
    if isinstance(fact, Change):
        _change(conn, fact)
    elif isinstance(fact, Grant):
        _grant(conn, fact)
    elif isinstance(fact, Vendor):
        conn.execute(
            "INSERT INTO audit.detection_connectors (connector_id, vendor, registrant)"
            " VALUES (%s, %s, %s) ON CONFLICT (connector_id) DO UPDATE SET"
            " vendor = EXCLUDED.vendor, registrant = EXCLUDED.registrant",
            (fact.connector_id, fact.vendor, fact.registrant),
        )
    else:
        conn.execute(
            "INSERT INTO audit.detection_trust AS t (principal_id, until) VALUES (%s, %s) "
            "ON CONFLICT (principal_id) DO UPDATE SET until = GREATEST(t.until, EXCLUDED.until)",
            (fact.principal_id, fact.until),
        )


def _change(conn: Connection, c: Change) -> None:
    """Booked or changed: the latest event sets the start; changed_at only moves forward."""
    if c.start is None:  # a status change names no start: only an appointment already known
        conn.execute(
            "UPDATE audit.detection_appointments SET changed_at = GREATEST(changed_at, %s) "
            "WHERE appointment_id = %s",
            (c.at, c.appointment_id),
        )
        return
    conn.execute(UPSERT_APPOINTMENT, _row(c))


def apply_changes(conn: Connection, changes: Sequence[Change]) -> None:
    """Many changes at once, in one pipeline (a backfill of booking's history)."""
    with conn.cursor() as cur:
        cur.executemany(UPSERT_APPOINTMENT, [_row(c) for c in changes if c.start is not None])


def _row(c: Change) -> tuple[Any, ...]:
    return (c.appointment_id, c.practitioner_id, c.patient_id, c.start, c.at)


def _grant(conn: Connection, g: Grant) -> None:
    """A grant (re)starts at its time; a revocation ends the grant it follows."""
    if g.granted:
        conn.execute(
            "INSERT INTO audit.detection_grants AS g "
            "(connector_id, practitioner_id, granted_at, expires_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (connector_id, practitioner_id) DO UPDATE SET "
            "granted_at = EXCLUDED.granted_at, expires_at = EXCLUDED.expires_at, "
            "revoked_at = NULL WHERE g.granted_at <= EXCLUDED.granted_at",
            (g.connector_id, g.practitioner_id, g.at, g.expires_at),
        )
    else:
        # A revocation seen before its grant still records that the agenda was held.
        conn.execute(
            "INSERT INTO audit.detection_grants AS g "
            "(connector_id, practitioner_id, granted_at, revoked_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (connector_id, practitioner_id) DO UPDATE SET "
            "revoked_at = EXCLUDED.revoked_at WHERE g.granted_at <= EXCLUDED.revoked_at",
            (g.connector_id, g.practitioner_id, g.at, g.at),
        )
    # The connector's reach changed: count it again at its next event.
    conn.execute(
        "UPDATE audit.detection_subjects SET reach_at = NULL WHERE subject = %s",
        (str(g.connector_id),),
    )


def granted_ever(conn: Connection, connector: UUID, practitioners: tuple[UUID, ...]) -> frozenset:
    """Which of these agendas the connector holds or held a grant for."""
    if not practitioners:
        return frozenset()
    rows = conn.execute(
        "SELECT practitioner_id FROM audit.detection_grants "
        "WHERE connector_id = %s AND practitioner_id = ANY(%s)",
        (connector, list(practitioners)),
    ).fetchall()
    return frozenset(r[0] for r in rows)


def reach(conn: Connection, kind: str, principal: UUID, at: datetime, s: DetectionSettings) -> int:
    """Appointments the principal may read that start within the sync horizon.

    A connector: its granted agendas; a practitioner: its own; a patient: its own
    appointments. Staff have no agenda: 0, so their thresholds are the floors.
    """
    horizon = at - timedelta(seconds=s.detection_horizon_s)
    if kind == "connector":
        query = (
            "SELECT count(*) FROM audit.detection_grants g JOIN audit.detection_appointments a "
            "ON a.practitioner_id = g.practitioner_id AND a.start_at >= %(h)s "
            "WHERE g.connector_id = %(p)s AND g.revoked_at IS NULL "
            "AND (g.expires_at IS NULL OR g.expires_at > %(at)s)"
        )
    elif kind == "practitioner":
        query = (
            "SELECT count(*) FROM audit.detection_appointments "
            "WHERE practitioner_id = %(p)s AND start_at >= %(h)s"
        )
    elif kind == "patient":
        query = (
            "SELECT count(*) FROM audit.detection_appointments "
            "WHERE patient_id = %(p)s AND start_at >= %(h)s"
        )
    else:
        return 0
    (count,) = conn.execute(query, {"p": principal, "h": horizon, "at": at}).fetchone()
    return int(count)


def trusted_until(conn: Connection, principal: UUID | None) -> datetime | None:
    """Until when an operator trusts the principal (None: not trusted)."""
    if principal is None:
        return None
    row = conn.execute(
        "SELECT until FROM audit.detection_trust WHERE principal_id = %s", (principal,)
    ).fetchone()
    return row[0] if row else None
