"""The Art. 34 notices: ask audit to send them, then count what the mail server accepted."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import TYPE_CHECKING

from services.cli.demo.client import Platform, wait_until

if TYPE_CHECKING:
    from services.cli.demo.scenario import Outcome

BREACH_SUBJECTS = (
    "Information importante : accès non autorisé à des informations de vos rendez-vous",
    "Important: unauthorised access to some of your appointment details",
)


def breach_mails(mail_dir: Path) -> int:
    """Art. 34 notices the mail server accepted (confirmations and reminders are not counted)."""
    count = 0
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        count += str(message.get("Subject", "")) in BREACH_SUBJECTS
    return count


def notify(platform: Platform, token: str, outcome: Outcome, mail_dir: Path) -> None:
    """Request the Art. 34 notices, wait for every one at the mail server, then the regulator's."""
    before = breach_mails(mail_dir)
    answer = platform.audit_post(token, f"/v1/audit/incidents/{outcome.incident_id}/notify", {})
    outcome.notices_requested = answer["notices_requested"]
    wait_until(
        "every Art. 34 notice to reach the mail server",
        lambda: breach_mails(mail_dir) - before >= outcome.notices_requested,
        timeout=300,
        every=2.0,
    )
    outcome.mails_received = breach_mails(mail_dir) - before
    platform.audit_post(token, f"/v1/audit/incidents/{outcome.incident_id}/regulator-notice", {})
