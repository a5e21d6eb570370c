"""Deliver due messages: claim by lease, send outside any transaction, record the outcome.

Exactly one effect per notification, except in one window: a crash after the channel
accepted the message and before the outcome commits. The lease then expires and the message
is sent again, with the same Message-ID (docs/notification.md measures that window).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from opentelemetry.trace import Span, StatusCode
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.logging import current_ids, get_logger
from services.common.metrics import NOTIFICATIONS_FAILED, NOTIFICATIONS_SENT
from services.notification import readmodels
from services.notification.channels import Channel, DeliveryError, Message
from services.notification.templates import render
from services.notification.tracing import attempt_traced

log = get_logger(__name__)
RECORD_RETRY_CAP_S = 1.0

CLAIM_BATCH = 10  # rows leased per statement (one statement and commit per message before)
CLAIM = """
UPDATE notification.outbox o SET lease_until = %(lease_until)s, attempts = o.attempts + 1,
       updated_at = now()
WHERE o.notification_id IN (
    SELECT notification_id FROM notification.outbox
    WHERE state = 'pending' AND due_at <= %(now)s
      AND (lease_until IS NULL OR lease_until < %(now)s)
    ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING o.notification_id, o.source_event_id, o.template, o.patient_id, o.context, o.attempts,
          o.origin, o.due_at
"""
# A claim not used before half its lease is given back as if never made (attempt included).
RELEASE = """
UPDATE notification.outbox SET lease_until = NULL, attempts = attempts - 1, updated_at = now()
 WHERE notification_id = %s AND state = 'pending' AND attempts = %s
"""


@dataclass(frozen=True)
class SenderSettings:
    """Retry policy and wording that come from configuration."""

    max_attempts: int = 5
    backoff_first_s: float = 2.0
    backoff_cap_s: float = 300.0
    lease_s: float = 60.0
    organisation: str = "Carnet"
    dpo_contact: str = "dpo@carnet.invalid"
    measures_taken: str = ""

    def backoff(self, attempt: int) -> timedelta:
        """2, 4, 8 … seconds, capped: a flapping SMTP server is not hammered."""
        return timedelta(seconds=min(self.backoff_cap_s, self.backoff_first_s * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Claimed:
    """An outbox row this sender holds a lease on."""

    notification_id: uuid.UUID
    source_event_id: uuid.UUID
    template: str
    patient_id: uuid.UUID
    context: dict[str, Any]
    attempt: int
    origin: dict[str, Any] = field(default_factory=dict)  # correlation id, trace context
    claimed_at: float = field(default_factory=time.monotonic, compare=False)


class Sender:
    """One pass of `send_due` empties what is due now; the service calls it on a timer."""

    def __init__(
        self,
        pool: ConnectionPool,
        store: EventStore,
        channels: Mapping[str, Channel],
        settings: SenderSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool, self.store, self.channels = pool, store, channels
        self.settings, self.clock = settings, clock

    def send_due(self, limit: int = 100) -> int:
        """Send up to `limit` due messages; return how many were attempted."""
        done = 0
        while done < limit:
            batch = self.claim(min(CLAIM_BATCH, limit - done))
            if not batch:
                break
            for i, claimed in enumerate(batch):
                if time.monotonic() - claimed.claimed_at > self.settings.lease_s / 2:
                    # Slow sends (timeouts) ate the lease: give the rest back before another
                    # sender may take them, so none goes out twice.
                    self.release(batch[i:])
                    return done
                self.deliver(claimed)
                done += 1
        return done

    def claim(self, limit: int = 1) -> list[Claimed]:
        """Lease the oldest due rows for lease_s, oldest first; one short transaction."""
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.lease_s)
        with self.pool.connection() as conn:
            rows = conn.execute(
                CLAIM, {"now": now, "lease_until": lease_until, "limit": limit}
            ).fetchall()
        return [Claimed(*row[:7]) for row in sorted(rows, key=lambda r: r[7])]

    def release(self, claims: list[Claimed]) -> None:
        """Give unused leases back, their attempts uncounted."""
        with self.pool.connection() as conn:
            for c in claims:
                conn.execute(RELEASE, (c.notification_id, c.attempt))

    def deliver(self, c: Claimed) -> None:
        """One attempt, in the trace and under the correlation id of the event behind it."""
        with attempt_traced(c.origin, c.source_event_id, c.template, c.attempt) as span:
            self.attempt(c, span)

    def attempt(self, c: Claimed, span: Span) -> None:
        """Build the message from notification's own read models, send it, record it."""
        try:
            message = self.build(c)
        except DeliveryError as error:
            span.set_status(StatusCode.ERROR, error.code)
            self.record_failure(c, error)
            return
        try:
            provider_id = self.channels[message.channel].send(message)
        except DeliveryError as error:
            span.set_status(StatusCode.ERROR, error.code)
            self.record_failure(c, error, message.channel)
            return
        accepted = time.monotonic()  # the duplicate window opens here …
        if os.environ.get("CARNET_FAULT") == "crash-after-send":
            os._exit(137)  # fault injection for the duplicate-window test, never set in prod
        self.record_sent_until_lease_ends(c, message.channel, provider_id, accepted)

    def record_sent_until_lease_ends(
        self, c: Claimed, channel: str, provider_id: str | None, accepted: float
    ) -> None:
        """The message is out: a lost database connection must not make it go out again.

        The record is retried while our lease holds (PostgreSQL restarting, a dropped
        connection); past it another sender may claim the row and resend, and `record_sent`'s
        attempt check turns our late record into a no-op.
        """
        deadline, pause = c.claimed_at + self.settings.lease_s, 0.1
        while True:
            try:
                return self.record_sent(c, channel, provider_id, accepted)
            except psycopg.OperationalError as error:
                if time.monotonic() + pause >= deadline:
                    raise
                log.warning(
                    "notification.record_retry",
                    notification_id=str(c.notification_id),
                    error_type=type(error).__name__,
                )
                time.sleep(pause)
                pause = min(RECORD_RETRY_CAP_S, pause * 2)

    def build(self, c: Claimed) -> Message:
        """Render in the patient's language to their preferred reachable channel."""
        with self.pool.connection() as conn:
            contact = conn.execute(
                "SELECT given_name, family_name, email, phone, language "
                "FROM notification.contacts WHERE patient_id = %s",
                (c.patient_id,),
            ).fetchone()
            if contact is None:
                # identity's PatientRegistered may simply not have arrived yet: retry later.
                raise DeliveryError("no_address", retryable=True, detail="contact not known yet")
            given, family, email, phone, language = contact
            context = self.context_for(conn, c, given, family)
        channel, to = ("email", email) if email else ("sms", phone) if phone else ("", None)
        if not to or channel not in self.channels:
            raise DeliveryError("no_address", retryable=False, detail="no e-mail or phone")
        subject, body = render(c.template, language, context)
        return Message(c.notification_id, channel, to, subject, body, language)

    def context_for(self, conn: Any, c: Claimed, given: str, family: str) -> dict[str, Any]:
        """Template context: names, dates, practitioner names, Art. 34 facts and wording."""
        ctx: dict[str, Any] = {
            "given_name": given,
            "family_name": family,
            "organisation": self.settings.organisation,
            "dpo_contact": self.settings.dpo_contact,
            "measures_taken": self.settings.measures_taken,
        }
        for key in ("start", "previous_start", "first_access_at", "last_access_at"):
            if key in c.context:
                ctx[key] = datetime.fromisoformat(c.context[key])
        if "practitioner_id" in c.context:
            ctx["practitioner_name"] = readmodels.practitioner_name(
                conn, c.context["practitioner_id"]
            )
        if c.template == "breach_notice_art34":
            rows = conn.execute(
                "SELECT a.start_at, coalesce(p.display_name, '') FROM notification.appointments a "
                "LEFT JOIN notification.practitioners p USING (practitioner_id) "
                "WHERE a.appointment_id = ANY(%s::uuid[]) ORDER BY a.start_at",
                (c.context["appointment_ids"],),
            ).fetchall()
            ctx["appointments"] = [{"start": s, "practitioner_name": n} for s, n in rows]
            ctx["field_classes"] = c.context["field_classes"]
        return ctx

    def record_sent(
        self, c: Claimed, channel: str, provider_id: str | None, accepted: float
    ) -> None:
        """Mark sent and append NotificationSent in one transaction."""
        payload = {
            "notification_id": c.notification_id,
            "source_event_id": c.source_event_id,
            "patient_id": c.patient_id,
            "channel": channel,
            "template": c.template,
            "attempt": c.attempt,
            "provider_message_id": provider_id,
        }
        with self.pool.connection() as conn, conn.transaction():
            held = conn.execute(
                "UPDATE notification.outbox SET state = 'sent', lease_until = NULL, "
                "last_error = NULL, updated_at = now() "
                "WHERE notification_id = %s AND state = 'pending' AND attempts = %s",
                (c.notification_id, c.attempt),
            ).rowcount
            if not held:
                # Our lease ran out and another sender took the row: it records the outcome.
                log.warning("notification.lease_lost", notification_id=str(c.notification_id))
                return
            self.append(conn, c, "NotificationSent", payload)
        window_ms = (time.monotonic() - accepted) * 1000  # … and closes at this commit
        NOTIFICATIONS_SENT.labels(c.template, channel).inc()
        log.info(
            "notification.sent",
            notification_id=str(c.notification_id),
            template=c.template,
            channel=channel,
            attempt=c.attempt,
            record_window_ms=round(window_ms, 2),
        )

    def record_failure(self, c: Claimed, error: DeliveryError, channel: str = "email") -> None:
        """Retry later with backoff, or give up: either way NotificationFailed is appended."""
        final = not error.retryable or c.attempt >= self.settings.max_attempts
        due = self.clock() + self.settings.backoff(c.attempt)
        payload = {
            "notification_id": c.notification_id,
            "source_event_id": c.source_event_id,
            "patient_id": c.patient_id,
            "channel": channel,
            "template": c.template,
            "attempt": c.attempt,
            "error_code": error.code,
            "retryable": not final,
        }
        with self.pool.connection() as conn, conn.transaction():
            held = conn.execute(
                "UPDATE notification.outbox SET state = %s, due_at = %s, lease_until = NULL, "
                "last_error = %s, updated_at = now() "
                "WHERE notification_id = %s AND state = 'pending' AND attempts = %s",
                ("failed" if final else "pending", due, error.code, c.notification_id, c.attempt),
            ).rowcount
            if not held:
                log.warning("notification.lease_lost", notification_id=str(c.notification_id))
                return
            self.append(conn, c, "NotificationFailed", payload)
        NOTIFICATIONS_FAILED.labels(c.template, error.code, str(final).lower()).inc()
        (log.error if final else log.warning)(
            "notification.failed",
            notification_id=str(c.notification_id),
            template=c.template,
            attempt=c.attempt,
            error_code=error.code,
            final=final,
            retry_at=None if final else due.isoformat(),
        )

    def append(self, conn: Any, c: Claimed, event_type: str, payload: dict[str, Any]) -> None:
        """Append to notification-<id>; the id plus attempt makes the event id stable."""
        data = REGISTRY.dump_payload(event_type, payload)
        event = NewEvent(
            event_id=uuid.uuid5(c.notification_id, f"{event_type}:{c.attempt}"),
            event_type=event_type,
            schema_version=REGISTRY.latest_version(event_type),
            data=data,
            metadata={**current_ids(), "causation_id": str(c.source_event_id)},
        )
        self.store.append_in(conn, f"notification-{c.notification_id}", [event], None)
