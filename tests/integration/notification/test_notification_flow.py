"""Notification end to end: real relays, broker, database and SMTP server process."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support.poll import eventually
from tests.support.stored import notification_events, outbox

# Sentinels of the synthetic events: the sealed reason's ciphertext, its key id, the specialty.
MEDICAL_OR_SENSITIVE = ("c3ludGhldGlj", "patient-key-", "general practice")


def body_of(message) -> str:
    return message.get_content() if not message.is_multipart() else message.get_body().get_content()


def assert_administrative_only(message) -> None:
    text = (message["Subject"] + body_of(message)).lower()
    for word in MEDICAL_OR_SENSITIVE:
        assert word.lower() not in text, word


def test_confirmation_in_english_with_no_medical_field(world, notification, smtp_server):
    patient = world.patient(language="en")
    practitioner = world.practitioner(family="Lambda")
    start = datetime.now(UTC) + timedelta(days=3)
    world.book(patient, practitioner, start)
    (message,) = smtp_server.wait_for_messages(1)
    assert message["To"] == "test.patient@example.org"
    assert message["Content-Language"] == "en"
    assert "Lambda" in body_of(message) and "Test" in body_of(message)
    assert_administrative_only(message)
    assert eventually(lambda: notification_events(world.database_url, "NotificationSent"))
    (sent,) = notification_events(world.database_url, "NotificationSent")
    assert sent["template"] == "appointment_booked" and sent["channel"] == "email"
    assert "example.org" not in str(sent)  # no address on the bus: only ids
    states = {(t, s) for t, s, _due, _a in outbox(world.database_url)}
    assert ("appointment_reminder", "pending") in states


def test_french_reschedule_then_cancel_moves_then_drops_the_reminder(
    world, notification, smtp_server
):
    patient = world.patient(language="fr")
    practitioner = world.practitioner()
    first = datetime.now(UTC) + timedelta(days=3)
    second = first + timedelta(days=1)
    aid = world.book(patient, practitioner, first)
    smtp_server.wait_for_messages(1)
    world.reschedule(aid, patient, practitioner, first, second)
    messages = smtp_server.wait_for_messages(2)
    assert messages[1]["Content-Language"] == "fr"
    reminders = [
        (s, due) for t, s, due, _a in outbox(world.database_url) if t == "appointment_reminder"
    ]
    pending = [due for s, due in reminders if s == "pending"]
    assert pending == [second - timedelta(minutes=60)]
    world.cancel(aid, patient, practitioner)
    messages = smtp_server.wait_for_messages(3)
    assert len(messages) == 3
    for m in messages:
        assert_administrative_only(m)
    assert eventually(
        lambda: all(
            s != "pending"
            for t, s, _d, _a in outbox(world.database_url)
            if t == "appointment_reminder"
        )
    )


def test_a_due_reminder_is_sent(world, notification, smtp_server):
    patient = world.patient(language="en")
    start = datetime.now(UTC) + timedelta(minutes=60, seconds=4)
    world.book(patient, world.practitioner(), start)
    messages = smtp_server.wait_for_messages(2, timeout=20)
    assert len(messages) == 2
    assert eventually(
        lambda: (
            {e["template"] for e in notification_events(world.database_url, "NotificationSent")}
            == {"appointment_booked", "appointment_reminder"}
        )
    )


def republished(url: str) -> bool:
    """Identity's and booking's relays are back at the head of their logs."""
    with psycopg.connect(url) as conn:
        return all(
            conn.execute(
                f"SELECT (SELECT max(position) FROM {s}.relay_position)"
                f" >= (SELECT max(position) FROM {s}.events)"
            ).fetchone()[0]
            for s in ("identity", "booking")
        )


def test_redelivering_every_event_sends_nothing_twice(world, notification, smtp_server):
    patient = world.patient()
    world.book(patient, world.practitioner(), datetime.now(UTC) + timedelta(days=2))
    smtp_server.wait_for_messages(1)
    # Make every relay publish its whole log again, as after a crash before saving positions.
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        for schema in ("identity", "booking"):
            conn.execute(f"DELETE FROM {schema}.relay_position")
    world.restart_relays()
    eventually(lambda: republished(world.database_url), what="the logs published again")
    time.sleep(2)  # the duplicates reach notification at once; its outbox sends every second
    assert len(smtp_server.messages()) == 1
    assert len(notification_events(world.database_url, "NotificationSent")) == 1


def test_art34_notice_once_per_patient_listing_their_appointments(world, notification, smtp_server):
    practitioner = world.practitioner(family="Omega")
    alice, bob = (
        world.patient(given="Alice"),
        world.patient(given="Bob", email=None, phone="+33600000002"),
    )
    start = datetime.now(UTC) + timedelta(days=5)
    a1 = world.book(alice, practitioner, start)
    a2 = world.book(alice, practitioner, start + timedelta(days=7))
    b1 = world.book(bob, practitioner, start + timedelta(hours=2))
    smtp_server.wait_for_messages(2)  # alice's confirmations; bob has SMS only
    incident = str(uuid.uuid4())
    world.breach_request(incident, alice, [a1, a2])
    world.breach_request(incident, alice, [a1, a2])  # asked twice: still one notice
    world.breach_request(incident, bob, [b1])
    messages = smtp_server.wait_for_messages(3)
    time.sleep(2)
    notices = [m for m in smtp_server.messages() if m not in messages[:2]]
    assert len(notices) == 1
    text = body_of(notices[0])
    assert "Omega" in text and "dpo@example.org" in text
    assert_administrative_only(notices[0])
    sent = notification_events(world.database_url, "NotificationSent")
    breach = [e for e in sent if e["template"] == "breach_notice_art34"]
    assert sorted(e["channel"] for e in breach) == ["email", "sms"]


def test_a_refusing_smtp_server_ends_in_notification_failed(world, notification, smtp_server):
    smtp_server.set_mode("reject")
    world.book(world.patient(), world.practitioner(), datetime.now(UTC) + timedelta(days=2))
    assert eventually(lambda: notification_events(world.database_url, "NotificationFailed"))
    (failed,) = notification_events(world.database_url, "NotificationFailed")
    assert failed["error_code"] == "rejected" and failed["retryable"] is False


def test_a_tempfailing_smtp_server_is_retried_with_backoff_then_succeeds(
    world, notification, smtp_server
):
    smtp_server.set_mode("tempfail")
    world.book(world.patient(), world.practitioner(), datetime.now(UTC) + timedelta(days=2))
    assert eventually(
        lambda: len(notification_events(world.database_url, "NotificationFailed")) >= 1
    )
    smtp_server.set_mode("accept")
    assert smtp_server.wait_for_messages(1, timeout=15)
    failures = notification_events(world.database_url, "NotificationFailed")
    assert all(f["retryable"] for f in failures)
    (sent,) = notification_events(world.database_url, "NotificationSent")
    assert sent["attempt"] == len(failures) + 1


# Three attempts that each wait out the SMTP timeout: 1 s, not the other tests' 2 s.
@pytest.mark.parametrize("notification", [{"SMTP_TIMEOUT": 1}], indirect=True)
def test_a_timing_out_smtp_server_is_retried_then_fails_for_good(world, notification, smtp_server):
    smtp_server.set_mode("hang")
    world.book(world.patient(), world.practitioner(), datetime.now(UTC) + timedelta(days=2))
    assert eventually(
        lambda: any(
            not f["retryable"]
            for f in notification_events(world.database_url, "NotificationFailed")
        ),
        timeout=40,
    )
    failures = notification_events(world.database_url, "NotificationFailed")
    assert [f["error_code"] for f in failures] == ["timeout"] * 3
    assert [f["attempt"] for f in failures] == [1, 2, 3]
