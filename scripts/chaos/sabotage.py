"""The runner's proof that its checks can fail: break one thing of each kind, reconcile again.

Run after the real account (`--self-check`), on the private cluster that is about to be
thrown away: an acknowledged command the store lacks, an appointment nobody asked for, a read
without its record, an event an inbox never saw, a ledger row removed, a read model row
changed, an e-mail delivered twice. Each must show in the account, and verify must fail.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from scripts.chaos import reconcile
from scripts.chaos.mail import WINDOW_S, read_inbox
from scripts.chaos.model import Book

# sabotage -> (group, check that must count it)
EXPECTED = {
    "command missing from the store": ("lost", reconcile.MISSING_COMMANDS),
    "appointment nobody asked for": ("duplicates", reconcile.UNASKED),
    "read without its record": ("lost", reconcile.UNRECORDED_READS),
    "event an inbox never saw": (
        "lost",
        reconcile.unprocessed("booking", "notification.on_appointment_event"),
    ),
    "ledger row removed": ("lost", reconcile.unledgered("booking")),
    "read model row changed": ("lost", reconcile.unreplayed("booking.appointments")),
    "e-mail delivered twice": ("duplicates", reconcile.RESENT_MAILS),
}

_BREAK = (
    "DELETE FROM notification.processed_events WHERE ctid = (SELECT ctid FROM"
    " notification.processed_events WHERE consumer = 'notification.on_appointment_event' LIMIT 1)",
    "UPDATE booking.appointments SET version = version + 100"
    " WHERE appointment_id = (SELECT appointment_id FROM booking.appointments LIMIT 1)",
    # The ledger refuses DELETE to every role by trigger; a superuser can still switch it off,
    # which is exactly the tampering verify exists for.
    "ALTER TABLE audit.ledger DISABLE TRIGGER USER",
    "DELETE FROM audit.ledger WHERE seq ="
    " (SELECT max(seq) FROM audit.ledger WHERE source_service = 'booking')",
)


def self_check(
    url: str,
    book: Book,
    access_ids: Sequence[str],
    mail_dir: Path,
    kills: list[float],
    keys: dict[str, Ed25519PublicKey],
) -> dict[str, bool]:
    """Sabotage name -> whether the account noticed it ("verify fails" included)."""
    certain = [a for i, a in book.appointments.items() if i not in book.uncertain_appointments]
    if len(certain) < 2 or not any(mail_dir.glob("*.eml")):
        return {"enough material to sabotage": False}
    certain[0].expected.append(("AppointmentCancelled", certain[0].slot.slot_id))
    del book.appointments[certain[1].appointment_id]
    # A mail accepted just before a kill of notification would make its copy look like the
    # documented send→record window (explained, not counted): copy one that was not.
    mails = sorted(mail_dir.glob("*.eml"))
    clear = [m for m in mails if not any(0 <= k - m.stat().st_mtime <= WINDOW_S for k in kills)]
    if not clear:
        return {"enough material to sabotage": False}
    shutil.copy(clear[0], mail_dir / f"{clear[0].stem}-again.eml")
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in _BREAK:
            conn.execute(statement)
    fake_read = [*access_ids, str(uuid.uuid4())]
    account = reconcile.reconcile(url, book, fake_read, read_inbox(mail_dir), kills, keys)
    noticed = {
        name: getattr(account, group).get(check, 0) > 0 for name, (group, check) in EXPECTED.items()
    }
    noticed["verify fails"] = not account.verify_ok
    return noticed
