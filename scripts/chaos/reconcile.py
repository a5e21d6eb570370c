"""After the load: nothing acknowledged lost, every event delivered, nothing done twice.

All the SQL runs as the private cluster's superuser in one REPEATABLE READ snapshot.
`pending` is the cheap part, polled until the system has drained what was in flight;
`reconcile` is the full account, taken once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from scripts.chaos import replay
from scripts.chaos.mail import Inbox, in_crash_window
from scripts.chaos.model import Book
from scripts.chaos.subscriptions import APPOINTMENT_EVENTS, SUBSCRIPTIONS
from services.audit.verify import verify_ledger
from services.common.config import SERVICES

_UNLEDGERED = (
    "SELECT count(*) FROM {0}.events e"
    " WHERE NOT EXISTS (SELECT 1 FROM audit.ledger l WHERE l.event_id = e.event_id)"
)
_UNPROCESSED = (
    "SELECT count(*) FROM {0}.events e WHERE e.event_type = ANY(%s) AND NOT EXISTS"
    " (SELECT 1 FROM {1}.processed_events p WHERE p.consumer = %s AND p.event_id = e.event_id)"
)
# One confirmation / reschedule / cancellation notice per booking appointment event.
_NOTICES = """
SELECT e.event_id::text, count(o.notification_id),
       array_remove(array_agg(o.notification_id::text), NULL),
       array_remove(array_agg(o.state), NULL)
FROM booking.events e
LEFT JOIN notification.outbox o
       ON o.source_event_id = e.event_id AND o.template <> 'appointment_reminder'
WHERE e.event_type = ANY(%s) GROUP BY e.event_id
"""

# Names of the checks that scripts/chaos/sabotage.py breaks on purpose.
MISSING_COMMANDS = "acknowledged commands missing from booking's store"
UNASKED = "appointments no acknowledged or pending command created"
UNRECORDED_READS = "served reads without their access record"
RESENT_MAILS = "e-mails received twice (outside the crash window)"


def unledgered(service: str) -> str:
    """The check of `service`'s events against the audit ledger."""
    return f"{service} events not in the audit ledger"


def unprocessed(source: str, inbox: str) -> str:
    """The check of `source`'s events against one consumer's inbox."""
    return f"{source} events not processed by {inbox}"


def unreplayed(table: str) -> str:
    """The check of one booking read model against a replay of booking's log."""
    return f"{table} rows differing from a replay of booking's log"


@dataclass
class Account:
    """The reconciliation's figures; `lost` and `duplicates` must be all zeros."""

    events: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    explained: dict[str, int] = field(default_factory=dict)
    verify_ok: bool = False
    verify_findings: list[str] = field(default_factory=list)


def _snapshot(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, connect_timeout=10)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


def _one(conn: psycopg.Connection, query: str, *args: Any) -> int:
    return int(conn.execute(query, args or None).fetchone()[0])


def _undelivered(conn: psycopg.Connection) -> dict[str, int]:
    """Events some consumer has not handled yet (the ledger, and every inbox)."""
    out = {
        f"{s} events not in the audit ledger": _one(conn, _UNLEDGERED.format(s)) for s in SERVICES
    }
    for sub in SUBSCRIPTIONS:
        key = unprocessed(sub.source, sub.inbox)
        query = _UNPROCESSED.format(sub.source, sub.service)
        out[key] = out.get(key, 0) + _one(conn, query, list(sub.types), sub.inbox)
    return out


def pending(url: str) -> int:
    """What is still in flight: undelivered events, staged ledger rows, notices not yet sent."""
    with _snapshot(url) as conn, conn.transaction():
        total = sum(_undelivered(conn).values())
        total += _one(conn, "SELECT count(*) FROM audit.ledger_staging")
        total += _one(
            conn,
            "SELECT count(*) FROM notification.outbox"
            " WHERE state = 'pending' AND template <> 'appointment_reminder'",
        )
    return total


def _commands(conn: psycopg.Connection, book: Book, account: Account) -> None:
    """Each acknowledged command's event in booking's store, once; no appointment unasked for."""
    streams: dict[str, list[tuple[str, str]]] = {}
    rows = conn.execute(
        "SELECT substr(stream_id, 13), event_type, data ->> 'slot_id' FROM booking.events"
        " WHERE stream_id LIKE 'appointment-%' ORDER BY stream_id, stream_version"
    ).fetchall()
    for appointment_id, event_type, slot_id in rows:
        streams.setdefault(appointment_id, []).append((event_type, slot_id))
    lost = extra = unasked = 0
    for appointment_id, got in streams.items():
        known = book.appointments.get(appointment_id)
        if known is None:
            first_slot = got[0][1]
            if appointment_id not in book.uncertain_appointments and (
                first_slot not in book.uncertain_slots
            ):
                unasked += 1
            continue
        if appointment_id in book.uncertain_appointments:
            continue
        expected, stored = Counter(known.expected), Counter(got)
        lost += sum((expected - stored).values())
        extra += sum((stored - expected).values())
    lost += sum(len(a.expected) for i, a in book.appointments.items() if i not in streams)
    account.lost[MISSING_COMMANDS] = lost
    account.duplicates["booking events beyond the acknowledged commands"] = extra
    account.duplicates[UNASKED] = unasked
    holders = dict(
        conn.execute("SELECT slot_id::text, appointment_id::text FROM booking.slots").fetchall()
    )
    account.lost["slots whose holder differs from the acknowledged commands"] = sum(
        1
        for slot_id, holder in book.holder.items()
        if slot_id not in book.uncertain_slots and holders.get(slot_id) != holder
    )


def _reads(conn: psycopg.Connection, access_ids: Sequence[str], account: Account) -> None:
    """Every served read was recorded first (its X-Carnet-Access-Id is an event of booking)."""
    account.lost[UNRECORDED_READS] = _one(
        conn,
        "SELECT count(*) FROM unnest(%s::uuid[]) a(id)"
        " WHERE NOT EXISTS (SELECT 1 FROM booking.events e WHERE e.event_id = a.id)",
        list(access_ids),
    )


def _notices(conn: psycopg.Connection, mail: Inbox, kills: list[float], account: Account) -> None:
    """One notice per appointment event, sent once, received once."""
    missing = doubled = unsent = unreceived = resent = window = 0
    for _event, n, ids, states in conn.execute(_NOTICES, (list(APPOINTMENT_EVENTS),)).fetchall():
        missing += n == 0
        doubled += max(0, n - 1)
        unsent += sum(1 for s in states if s != "sent")
        for nid in ids:
            copies = mail.copies.get(nid, [])
            unreceived += not copies
            if len(copies) > 1:
                if in_crash_window(copies, kills):
                    window += 1
                else:
                    resent += len(copies) - 1
    sent_twice = _one(
        conn,
        "SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) AS c FROM notification.events"
        " WHERE event_type = 'NotificationSent' GROUP BY data ->> 'notification_id') s",
    )
    known = {r[0] for r in conn.execute("SELECT notification_id::text FROM notification.outbox")}
    account.lost["appointment events without a notice queued"] = missing
    account.lost["notices not sent"] = unsent
    account.lost["notices sent but not received by the SMTP server"] = unreceived
    account.duplicates["notices queued twice for one event"] = doubled
    account.duplicates["NotificationSent recorded twice"] = sent_twice
    account.duplicates[RESENT_MAILS] = resent
    account.duplicates["e-mails for no notification"] = (
        sum(len(v) for k, v in mail.copies.items() if k not in known) + mail.unreadable
    )
    account.explained["e-mails resent after a SIGKILL in the send→record window"] = window


def reconcile(
    url: str,
    book: Book,
    access_ids: Sequence[str],
    mail: Inbox,
    notification_kills: list[float],
    keys: dict[str, Ed25519PublicKey],
) -> Account:
    """The full account, in one snapshot."""
    account = Account()
    with _snapshot(url) as conn, conn.transaction():
        for svc in SERVICES:
            account.events[svc] = _one(conn, f"SELECT count(*) FROM {svc}.events")
        _commands(conn, book, account)
        _reads(conn, access_ids, account)
        account.lost.update(_undelivered(conn))
        account.duplicates["ledger rows per event id beyond one"] = _one(
            conn, "SELECT count(*) - count(DISTINCT event_id) FROM audit.ledger"
        )
        _notices(conn, mail, notification_kills, account)
        for table, differing in replay.booking_views_vs_replay(conn).items():
            account.lost[unreplayed(table)] = differing
        account.lost["notification appointments differing from booking's"] = (
            replay.notification_vs_booking(conn)
        )
    with _snapshot(url) as conn, conn.transaction():
        report = verify_ledger(conn, keys, grace_seconds=0.0)
    account.verify_ok = report.ok
    account.verify_findings = [f"{f.kind} seq={f.seq} {f.detail}" for f in report.findings[:10]]
    return account
