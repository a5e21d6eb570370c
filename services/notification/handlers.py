"""Notification's use cases, called by service.py's entrypoints; no nameko here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.consumed import ConsumedEvent
from services.common.inbox import Inbox
from services.notification import readmodels
from services.notification.sender import SenderSettings


def now() -> datetime:
    """The wall clock, in UTC; handlers take it as an argument so tests can fix it."""
    return datetime.now(UTC)


def settings_from_config(config: Mapping[str, Any]) -> SenderSettings:
    """Retry policy, lease and Art. 34 wording from config.yaml (itself from the environment)."""
    return SenderSettings(
        max_attempts=int(config.get("NOTIFICATION_MAX_ATTEMPTS", 5)),
        backoff_first_s=float(config.get("NOTIFICATION_BACKOFF_SECONDS", 2.0)),
        # A lease shorter than a send could let a second sender take the row mid-send.
        lease_s=max(
            float(config.get("NOTIFICATION_LEASE_SECONDS", 60.0)),
            2 * float(config.get("SMTP_TIMEOUT", 10.0)) + 1,
        ),
        organisation=str(config.get("ORGANISATION_NAME", "Carnet")),
        dpo_contact=str(config.get("DPO_CONTACT", "dpo@carnet.invalid")),
        measures_taken=str(config.get("BREACH_MEASURES_TAKEN", "")),
    )


def reminder_lead(config: Mapping[str, Any]) -> timedelta:
    """How long before the appointment the reminder goes out (default one day)."""
    return timedelta(minutes=float(config.get("REMINDER_LEAD_MINUTES", 1440)))


def on_patient_registered(inbox: Inbox, events: list[ConsumedEvent]) -> list[bool]:
    """Keep the patients' contact details and languages (a batch, one transaction)."""
    outcomes = inbox.each(events, lambda conn, e: readmodels.apply_patient(conn, e.payload))
    return [ran for ran, _ in outcomes]


def on_practitioner_registered(inbox: Inbox, event: ConsumedEvent) -> bool:
    """Keep the practitioner's display name."""
    ran, _ = inbox.once(
        event.event_id, lambda conn: readmodels.apply_practitioner(conn, event.payload)
    )
    return ran


def on_appointment_event(
    inbox: Inbox, events: list[ConsumedEvent], lead: timedelta, at: datetime | None = None
) -> list[bool]:
    """Queue each confirmation, reschedule or cancellation notice and keep reminders true."""
    when = at or now()
    outcomes = inbox.each(
        events, lambda conn, e: readmodels.apply_appointment_event(conn, e, when, lead)
    )
    return [ran for ran, _ in outcomes]


def on_breach_notification_requested(
    inbox: Inbox, event: ConsumedEvent, at: datetime | None = None
) -> bool:
    """Queue one Art. 34 notice for this patient and incident."""
    when = at or now()
    ran, _ = inbox.once(
        event.event_id, lambda conn: readmodels.apply_breach_request(conn, event, when)
    )
    return ran
