"""Channels against a real SMTP server process on loopback, and the SMS outbox file."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import pytest

from services.notification import smtp_session
from services.notification.channels import (
    DeliveryError,
    Message,
    SmsOutboxChannel,
    SmtpChannel,
    channels_from_config,
)
from tests.support.ports import free_port
from tests.support.smtp_server import SmtpServer

SENDER = "Carnet <no-reply@carnet.invalid>"
PATIENT_EMAIL = "test.patient@example.org"
PATIENT_PHONE = "+33600000000"


def email(language: str = "fr", **overrides: str) -> Message:
    fields = {
        "notification_id": uuid.uuid4(),
        "channel": "email",
        "to": PATIENT_EMAIL,
        "subject": "Rendez-vous confirmé le mardi 1er janvier 2030 à 09:00",
        "body": "Bonjour Test Patient,\n\nVotre rendez-vous est confirmé. À bientôt.\n",
        "language": language,
        **overrides,
    }
    return Message(**fields)


def channel(server: SmtpServer, timeout: float = 5.0) -> SmtpChannel:
    return SmtpChannel(server.host, server.port, SENDER, timeout=timeout)


def assert_no_personal_data(error: DeliveryError, message: Message) -> None:
    """The error may be logged: it must never carry the address, subject or body."""
    text = f"{error} {error.detail} {error!r}"
    for secret in (message.to, message.subject, "Test Patient"):
        assert secret not in text


def test_delivers_a_utf8_message_with_deterministic_headers(smtp_server: SmtpServer):
    message = email("fr")
    provider_id = channel(smtp_server).send(message)

    expected_id = f"<{message.notification_id}@carnet.invalid>"
    assert provider_id == expected_id
    [received] = smtp_server.messages()
    assert received["Message-ID"] == expected_id
    assert received["From"] == SENDER
    assert received["To"] == PATIENT_EMAIL
    assert received["Subject"] == message.subject
    assert received["Content-Language"] == "fr"
    assert received["Date"] is not None
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received.get_content() == message.body


def test_a_resend_carries_the_same_message_id(smtp_server: SmtpServer):
    message = email("en")
    smtp = channel(smtp_server)
    assert smtp.send(message) == smtp.send(message)
    first, second = smtp_server.messages()
    assert first["Message-ID"] == second["Message-ID"]
    assert second["Content-Language"] == "en"
    assert smtp_server.messages()[0] is first  # stable objects: `m in earlier` works


def test_a_newline_in_the_subject_cannot_inject_headers(smtp_server: SmtpServer):
    channel(smtp_server).send(email(subject="Hello\r\nBcc: attacker@example.org"))
    [received] = smtp_server.messages()
    assert received["Bcc"] is None
    assert received["Subject"] == "Hello Bcc: attacker@example.org"


def test_temporary_failure_is_retryable(smtp_server: SmtpServer):
    smtp_server.set_mode("tempfail")
    message = email()
    with pytest.raises(DeliveryError) as caught:
        channel(smtp_server).send(message)
    assert (caught.value.code, caught.value.retryable) == ("provider_unavailable", True)
    assert "451" in caught.value.detail
    assert_no_personal_data(caught.value, message)
    assert smtp_server.messages() == []


def test_rejected_recipient_is_final_and_the_reply_text_is_not_copied(smtp_server: SmtpServer):
    smtp_server.set_mode("reject")  # the server's 550 text quotes the address
    message = email()
    with pytest.raises(DeliveryError) as caught:
        channel(smtp_server).send(message)
    assert (caught.value.code, caught.value.retryable) == ("rejected", False)
    assert "550" in caught.value.detail
    assert_no_personal_data(caught.value, message)
    assert caught.value.__suppress_context__  # tracebacks will not print the server reply


def test_a_server_that_never_answers_data_times_out(smtp_server: SmtpServer):
    smtp_server.set_mode("hang")
    message = email()
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        channel(smtp_server, timeout=1).send(message)
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)
    assert time.monotonic() - started < 10
    assert_no_personal_data(caught.value, message)


def test_the_mode_can_change_while_the_server_runs(smtp_server: SmtpServer):
    smtp = channel(smtp_server)
    smtp_server.set_mode("tempfail")
    with pytest.raises(DeliveryError):
        smtp.send(email())
    smtp_server.set_mode("accept")
    smtp.send(email())
    assert len(smtp_server.messages()) == 1


def test_server_down_is_retryable():
    port = free_port()  # nothing listens there
    message = email()
    with pytest.raises(DeliveryError) as caught:
        SmtpChannel("127.0.0.1", port, SENDER, timeout=2).send(message)
    assert (caught.value.code, caught.value.retryable) == ("provider_unavailable", True)
    assert_no_personal_data(caught.value, message)


def test_a_missing_address_is_final_and_never_dials():
    smtp = SmtpChannel("127.0.0.1", 9, SENDER)
    with pytest.raises(DeliveryError) as caught:
        smtp.send(email(to="  "))
    assert (caught.value.code, caught.value.retryable) == ("no_address", False)


def test_sms_outbox_gets_one_json_line_per_message(tmp_path: Path):
    path = tmp_path / "dev" / "sms-outbox.jsonl"
    sms = SmsOutboxChannel(path)
    messages = [
        email(channel="sms", to=PATIENT_PHONE, subject="", body=f"Rappel n°{n}") for n in (1, 2)
    ]
    ids = [sms.send(m) for m in messages]

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and len(set(ids)) == 2
    for line, message, provider_id in zip(lines, messages, ids, strict=True):
        assert line["provider_id"] == provider_id
        assert line["notification_id"] == str(message.notification_id)
        assert line["to"] == PATIENT_PHONE
        assert line["body"] == message.body
        assert line["language"] == "fr"


def test_sms_without_a_valid_number_is_final(tmp_path: Path):
    sms = SmsOutboxChannel(tmp_path / "sms.jsonl")
    for to, code in (("", "no_address"), ("0600000000", "rejected")):
        with pytest.raises(DeliveryError) as caught:
            sms.send(email(channel="sms", to=to))
        assert (caught.value.code, caught.value.retryable) == (code, False)
    assert not (tmp_path / "sms.jsonl").exists()


def test_channels_from_config_uses_defaults_and_reaches_the_server(
    smtp_server: SmtpServer, tmp_path: Path
):
    defaults = channels_from_config({})
    assert isinstance(defaults["email"], SmtpChannel) and defaults["email"].port == 1025
    assert isinstance(defaults["sms"], SmsOutboxChannel)
    assert defaults["sms"].path == Path("var/sms-outbox.jsonl")

    config = {
        **smtp_server.config,
        "SMTP_PORT": str(smtp_server.port),  # config.yaml substitution may give strings
        "SMTP_USERNAME": "",
        "SMTP_TIMEOUT": "3",
        "SMS_OUTBOX_PATH": str(tmp_path / "sms.jsonl"),
    }
    channels = channels_from_config(config)
    assert set(channels) == {"email", "sms"}
    channels["email"].send(email())
    assert len(smtp_server.messages()) == 1
    with pytest.raises(ValueError):
        channels_from_config({"SMTP_SECURITY": "tls-please"})


def test_messages_share_one_session_until_it_is_closed(smtp_server: SmtpServer):
    smtp = channel(smtp_server)
    for _ in range(3):
        smtp.send(email())
    smtp.close()
    smtp.send(email())
    smtp.close()
    sessions = smtp_server.sessions()
    assert len(sessions) == 4
    assert len(set(sessions[:3])) == 1 and sessions[3] != sessions[0]


@pytest.mark.parametrize("checked", [True, False], ids=["noop-after-idle", "found-at-send"])
def test_a_session_that_died_between_messages_is_replaced_without_losing_one(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, checked: bool
):
    smtp = channel(smtp_server)
    smtp.send(email())
    # The connection died while kept (a server timeout, a reset on the way).
    smtp._session._client.sock.shutdown(socket.SHUT_RDWR)
    monkeypatch.setattr(smtp_session, "IDLE_CHECK_S", 0.0 if checked else 3600.0)
    smtp.send(email())
    smtp.close()
    first, second = smtp_server.sessions()
    assert first != second


def test_a_failure_closes_the_session_and_the_next_message_opens_a_new_one(
    smtp_server: SmtpServer,
):
    smtp = channel(smtp_server)
    smtp.send(email())
    smtp_server.set_mode("reject")
    with pytest.raises(DeliveryError):
        smtp.send(email())
    smtp_server.set_mode("accept")
    smtp.send(email())
    smtp.close()
    first, second = smtp_server.sessions()
    assert first != second
