"""Subjects in PostgreSQL (migration 0022): lock, prune, cached reach, cooldowns.

`lock` runs first for every event of a subject and row-locks it, so two events of one subject
are evaluated one after the other, each seeing the other's counts: a threshold crossed by
concurrent events is not missed, and a cooldown is not claimed twice. An event that concerns
two subjects (an address and a token) locks them in sorted order, so two such events cannot
deadlock. Under READ COMMITTED each later statement sees what the lock holder committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.audit.detection import reference
from services.audit.detection.settings import DetectionSettings

Connection = Any  # psycopg.Connection
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Subject:
    """Whom an event counts against: a principal, or an address or token nobody answers for."""

    key: str  # the principal's id, 'address:<ip>' or 'token:<fingerprint>'
    principal_kind: str
    principal_id: UUID | None = None

    @property
    def is_principal(self) -> bool:
        """Only principals have a reach, links and a containment."""
        return self.principal_id is not None


def principal(kind: str, principal_id: UUID) -> Subject:
    """A principal is its own subject, keyed by its id."""
    return Subject(str(principal_id), kind, principal_id)


def address(value: str) -> Subject:
    """Refused credentials with no principal: the address they came from."""
    return Subject(f"address:{value}", "unknown")


def token(fingerprint: str) -> Subject:
    """Refused uses of one token nobody answers for."""
    return Subject(f"token:{fingerprint}", "unknown")


def lock(conn: Connection, subject: Subject, at: datetime, s: DetectionSettings) -> None:
    """Lock the subject's row (creating it), and prune its old state about hourly."""
    (pruned_before,) = conn.execute(
        "INSERT INTO audit.detection_subjects AS s (subject, principal_kind, first_seen, last_seen)"
        " VALUES (%(s)s, %(k)s, %(at)s, %(at)s) ON CONFLICT (subject) DO UPDATE SET "
        "first_seen = LEAST(s.first_seen, EXCLUDED.first_seen), "
        "last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen) RETURNING pruned_before",
        {"s": subject.key, "k": subject.principal_kind, "at": at},
    ).fetchone()
    minute = at.replace(second=0, microsecond=0)
    cutoff = minute - timedelta(seconds=s.longest_window_s())
    if pruned_before is None or cutoff - PRUNE_EVERY > pruned_before:
        _prune(conn, subject.key, cutoff, at - timedelta(seconds=s.detection_memory_s), s, at)


def _prune(
    conn: Connection,
    key: str,
    cutoff: datetime,
    forgotten: datetime,
    s: DetectionSettings,
    at: datetime,
) -> None:
    """Forget what no window reaches any more, reads past memory, addresses past the links."""
    params = {
        "s": key,
        "c": cutoff,
        "f": forgotten,
        "l": at - timedelta(seconds=max(s.link_window_s, s.longest_window_s())),
    }
    for statement in (
        "DELETE FROM audit.detection_buckets WHERE subject = %(s)s AND minute < %(c)s",
        "DELETE FROM audit.detection_items WHERE subject = %(s)s AND minute < %(c)s",
        "DELETE FROM audit.detection_accesses WHERE subject = %(s)s AND at < %(c)s",
        "DELETE FROM audit.detection_reads WHERE subject = %(s)s AND last_read_at < %(f)s",
        # An address unused past every window is new again if it comes back: the earliest
        # address is kept, so a principal never looks brand new (D8 needs one to compare).
        "DELETE FROM audit.detection_seen d WHERE subject = %(s)s AND last_seen < %(l)s "
        "AND first_seen > (SELECT min(first_seen) FROM audit.detection_seen"
        " WHERE subject = %(s)s AND kind = d.kind)",
        "UPDATE audit.detection_subjects SET pruned_before = %(c)s WHERE subject = %(s)s",
    ):
        conn.execute(statement, params)


def reach(conn: Connection, subject: Subject, at: datetime, s: DetectionSettings) -> int | None:
    """The principal's reach, counted again when older than the refresh interval."""
    if subject.principal_id is None:
        return None
    reach_value, reach_at = conn.execute(
        "SELECT reach, reach_at FROM audit.detection_subjects WHERE subject = %s",
        (subject.key,),
    ).fetchone()
    fresh = at - timedelta(seconds=s.detection_reach_refresh_s)
    if reach_at is not None and fresh < reach_at <= at:
        return int(reach_value)
    value = reference.reach(conn, subject.principal_kind, subject.principal_id, at, s)
    conn.execute(
        "UPDATE audit.detection_subjects SET reach = %s, reach_at = %s WHERE subject = %s",
        (value, at, subject.key),
    )
    return value


def cooldowns(conn: Connection, key: str) -> dict[str, tuple[int, datetime]]:
    """Each rule's (last rank, cooled_until) for the subject; rules that never fired absent."""
    rows = conn.execute(
        "SELECT rule, rank, cooled_until FROM audit.detection_cooldowns WHERE subject = %s",
        (key,),
    ).fetchall()
    return {rule: (int(rank), until) for rule, rank, until in rows}


def start_cooldown(
    conn: Connection, key: str, rule: str, rank: int, at: datetime, until: datetime
) -> None:
    """The rule fired at this step: quiet until `until` unless a higher step follows."""
    conn.execute(
        "INSERT INTO audit.detection_cooldowns AS c (subject, rule, rank, fired_at, cooled_until)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (subject, rule) DO UPDATE SET "
        "rank = EXCLUDED.rank, fired_at = EXCLUDED.fired_at, cooled_until = EXCLUDED.cooled_until",
        (key, rule, rank, at, until),
    )
