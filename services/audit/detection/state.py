"""Per-principal sliding windows in PostgreSQL (migration 0013), inside the caller's transaction.

`touch_subject` runs first for every event of a principal and row-locks that principal, so
two events of one principal are evaluated one after the other, each seeing the other's
counts: a threshold crossed by concurrent events is not missed, and a cooldown is not
claimed twice. Under READ COMMITTED each later statement sees what the lock holder committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.audit.detection.observe import Observation
from services.audit.detection.rules import Tally
from services.audit.detection.settings import DetectionSettings

Connection = Any  # psycopg.Connection
SAMPLE = 20
PRUNE_EVERY = timedelta(hours=1)
# Which access records make a rule's sample (SQL over audit.detection_accesses).
SAMPLES = {
    "success": "NOT denied",
    "denied": "denied",
    "reach_denied": "reach_denied",
    "deep_page": "deep_page",
}


@dataclass(frozen=True)
class Subject:
    """The locked principal: since when it is known (D1's baseline cannot predate that)."""

    subject_id: UUID
    first_seen: datetime


@dataclass(frozen=True)
class AddressNews:
    """D5's input: was this address new for credentials, and how many were known before."""

    new_address: str | None
    known_before: int


def touch_subject(conn: Connection, obs: Observation, settings: DetectionSettings) -> Subject:
    """Lock the principal's row (creating it), and prune its old state about hourly."""
    first_seen, pruned_before = conn.execute(
        "INSERT INTO audit.detection_subjects AS s (subject_id, first_seen, last_seen) "
        "VALUES (%(s)s, %(at)s, %(at)s) ON CONFLICT (subject_id) DO UPDATE SET "
        "first_seen = LEAST(s.first_seen, EXCLUDED.first_seen), "
        "last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen) "
        "RETURNING first_seen, pruned_before",
        {"s": obs.subject_id, "at": obs.at},
    ).fetchone()
    cutoff = obs.minute - timedelta(seconds=settings.retention_s())
    if pruned_before is None or cutoff - PRUNE_EVERY > pruned_before:
        sets_cutoff = obs.minute - timedelta(seconds=settings.longest_window_s())
        _prune(conn, obs.subject_id, cutoff, sets_cutoff)
    assert obs.subject_id is not None
    return Subject(obs.subject_id, first_seen)


def _prune(conn: Connection, subject: UUID | None, cutoff: datetime, sets_cutoff: datetime) -> None:
    """Forget what no window can reach any more (addresses are kept: D5 needs them all)."""
    params = {"s": subject, "c": cutoff, "sc": sets_cutoff}
    for table, column, bound in (
        ("buckets", "minute", "c"),  # counters: D1's baseline reaches back the furthest
        ("items", "minute", "sc"),
        ("accesses", "at", "sc"),
    ):
        conn.execute(
            f"DELETE FROM audit.detection_{table} "
            f"WHERE subject_id = %(s)s AND {column} < %({bound})s",
            params,
        )
    conn.execute(
        "UPDATE audit.detection_subjects SET pruned_before = %(c)s WHERE subject_id = %(s)s",
        params,
    )


def record(conn: Connection, obs: Observation) -> AddressNews:
    """Add the observation to the principal's bucket, sets, sample and addresses."""
    if obs.kind in ("access", "auth_failure"):
        _count(conn, obs)
    if obs.kind == "access":
        _items(conn, obs)
        conn.execute(
            "INSERT INTO audit.detection_accesses "
            "(subject_id, at, access_id, denied, reach_denied, deep_page) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (obs.subject_id, obs.at, obs.access_id, obs.denied, obs.reach_denied, obs.deep_page),
        )
    return _address(conn, obs) if obs.address else AddressNews(None, 0)


def _count(conn: Connection, obs: Observation) -> None:
    """Add to the minute's counters; the upsert is atomic under concurrent workers."""
    conn.execute(
        "INSERT INTO audit.detection_buckets AS b (subject_id, minute, accesses, returned, "
        "denied, reach_denied, auth_failures, deep_pages) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (subject_id, minute) DO UPDATE SET "
        "accesses = b.accesses + EXCLUDED.accesses, returned = b.returned + EXCLUDED.returned, "
        "denied = b.denied + EXCLUDED.denied, "
        "reach_denied = b.reach_denied + EXCLUDED.reach_denied, "
        "auth_failures = b.auth_failures + EXCLUDED.auth_failures, "
        "deep_pages = b.deep_pages + EXCLUDED.deep_pages",
        (
            obs.subject_id,
            obs.minute,
            int(obs.kind == "access"),
            obs.returned,
            int(obs.denied),
            int(obs.reach_denied),
            int(obs.kind == "auth_failure"),
            int(obs.deep_page),
        ),
    )


def _items(conn: Connection, obs: Observation) -> None:
    """Remember who and what was read this minute, so windows can count them distinct."""
    for kind, ids in (
        ("patient", obs.patient_ids),
        ("appointment", obs.appointment_ids),
        ("practitioner", obs.practitioner_ids),
    ):
        if ids:
            conn.execute(
                "INSERT INTO audit.detection_items (subject_id, kind, minute, item_id) "
                "SELECT %s, %s, %s, unnest(%s::uuid[]) ON CONFLICT DO NOTHING",
                (obs.subject_id, kind, obs.minute, list(ids)),
            )


def _address(conn: Connection, obs: Observation) -> AddressNews:
    """Remember the address; it is news for D5 when credentials were used from it first now."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE authenticated AND address <> %(a)s), "
        "bool_or(authenticated) FILTER (WHERE address = %(a)s) "
        "FROM audit.detection_addresses WHERE subject_id = %(s)s",
        {"s": obs.subject_id, "a": obs.address},
    ).fetchone()
    known_before, already = int(row[0]), bool(row[1])
    conn.execute(
        "INSERT INTO audit.detection_addresses AS d "
        "(subject_id, address, first_seen, last_seen, authenticated) "
        "VALUES (%(s)s, %(a)s, %(at)s, %(at)s, %(auth)s) "
        "ON CONFLICT (subject_id, address) DO UPDATE SET "
        "first_seen = LEAST(d.first_seen, EXCLUDED.first_seen), "
        "last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen), "
        "authenticated = d.authenticated OR EXCLUDED.authenticated",
        {"s": obs.subject_id, "a": obs.address, "at": obs.at, "auth": obs.authenticated},
    )
    new = obs.address if obs.authenticated and not already else None
    return AddressNews(new, known_before)


def record_booking(conn: Connection, obs: Observation) -> None:
    """A patient booked with a practitioner: what D2 weighs a principal's reads against."""
    conn.execute(
        "INSERT INTO audit.detection_bookings AS b (practitioner_id, patient_id, last_booked_at) "
        "VALUES (%s, %s, %s) ON CONFLICT (practitioner_id, patient_id) DO UPDATE SET "
        "last_booked_at = GREATEST(b.last_booked_at, EXCLUDED.last_booked_at)",
        (obs.practitioner_ids[0], obs.patient_ids[0], obs.at),
    )


def tally(conn: Connection, subject: UUID, start: datetime, end: datetime, sample: str) -> Tally:
    """The principal's counts over [start, end), a sample of its access ids, its addresses."""
    window = {"s": subject, "start": start, "end": end}
    counts = conn.execute(
        "SELECT coalesce(sum(accesses), 0), coalesce(sum(returned), 0), "
        "coalesce(sum(denied), 0), coalesce(sum(reach_denied), 0), "
        "coalesce(sum(auth_failures), 0), coalesce(sum(deep_pages), 0) "
        "FROM audit.detection_buckets "
        "WHERE subject_id = %(s)s AND minute >= %(start)s AND minute < %(end)s",
        window,
    ).fetchone()
    patients, appointments = conn.execute(
        "SELECT count(DISTINCT item_id) FILTER (WHERE kind = 'patient'), "
        "count(DISTINCT item_id) FILTER (WHERE kind = 'appointment') "
        "FROM audit.detection_items "
        "WHERE subject_id = %(s)s AND minute >= %(start)s AND minute < %(end)s",
        window,
    ).fetchone()
    access_ids = conn.execute(
        "SELECT access_id FROM audit.detection_accesses "
        f"WHERE subject_id = %(s)s AND at >= %(start)s AND at < %(end)s AND {SAMPLES[sample]} "
        f"ORDER BY at, access_id LIMIT {SAMPLE}",
        window,
    ).fetchall()
    addresses = conn.execute(
        "SELECT address FROM audit.detection_addresses "
        "WHERE subject_id = %(s)s AND last_seen >= %(start)s "
        f"ORDER BY first_seen DESC, address LIMIT {SAMPLE}",
        window,
    ).fetchall()
    accesses, returned, denied, reach_denied, auth_failures, deep_pages = (int(c) for c in counts)
    return Tally(
        start,
        end,
        accesses=accesses,
        returned=returned,
        denied=denied,
        reach_denied=reach_denied,
        auth_failures=auth_failures,
        deep_pages=deep_pages,
        distinct_patients=int(patients),
        distinct_appointments=int(appointments),
        access_ids=tuple(r[0] for r in access_ids),
        addresses=tuple(r[0] for r in addresses),
    )


def baseline(
    conn: Connection, subject: Subject, window_start: datetime, window_s: int, horizon_s: int
) -> float | None:
    """Mean appointments returned per window before this one, over the known history."""
    known_since = subject.first_seen.replace(second=0, microsecond=0)
    since = max(window_start - timedelta(seconds=horizon_s), known_since)
    span = (window_start - since).total_seconds()
    if span <= 0:
        return None
    (total,) = conn.execute(
        "SELECT coalesce(sum(returned), 0) FROM audit.detection_buckets "
        "WHERE subject_id = %s AND minute >= %s AND minute < %s",
        (subject.subject_id, since, window_start),
    ).fetchone()
    return int(total) / max(span / window_s, 1.0)


def booked_patients(
    conn: Connection, subject: UUID, start: datetime, end: datetime, since: datetime
) -> int:
    """Distinct patients booked since `since` with the practitioners read in [start, end)."""
    (count,) = conn.execute(
        "SELECT count(DISTINCT b.patient_id) FROM audit.detection_bookings b "
        "WHERE b.last_booked_at >= %(since)s AND b.practitioner_id IN ("
        " SELECT item_id FROM audit.detection_items WHERE subject_id = %(s)s"
        " AND kind = 'practitioner' AND minute >= %(start)s AND minute < %(end)s)",
        {"s": subject, "start": start, "end": end, "since": since},
    ).fetchone()
    return int(count)


def cooldowns(conn: Connection, subject: UUID) -> dict[str, datetime]:
    """Each rule's cooled_until for the principal (rules that never fired are absent)."""
    rows = conn.execute(
        "SELECT rule, cooled_until FROM audit.detection_cooldowns WHERE subject_id = %s",
        (subject,),
    ).fetchall()
    return {rule: until for rule, until in rows}


def start_cooldown(
    conn: Connection, subject: UUID, rule: str, at: datetime, until: datetime
) -> None:
    """The rule fired at `at`: quiet for this principal until `until`."""
    conn.execute(
        "INSERT INTO audit.detection_cooldowns AS c (subject_id, rule, fired_at, cooled_until) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (subject_id, rule) DO UPDATE SET "
        "fired_at = EXCLUDED.fired_at, cooled_until = EXCLUDED.cooled_until",
        (subject, rule, at, until),
    )
