"""No name, e-mail, phone, token, password or key ever reaches a log line."""

import io
import json

import pytest

from services.common.logging import (
    REDACTED,
    bind_message_context,
    clear_message_context,
    configure_logging,
    get_logger,
    is_sensitive_key,
    redact,
    scrub_text,
)

EMAIL = "test.patient@example.org"
PHONE = "+33600000000"
TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    configure_logging("unit-test", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    clear_message_context()


def test_a_log_call_with_email_phone_and_token_prints_none_of_them(log_lines):
    get_logger("t").info(
        "patient.contacted",
        email=EMAIL,
        phone=PHONE,
        access_token=TOKEN,
        appointment_id="a-1",
    )
    (line,) = log_lines()
    raw = json.dumps(line)
    assert EMAIL not in raw and PHONE not in raw and TOKEN not in raw
    assert line["appointment_id"] == "a-1"
    assert line["email"] == REDACTED and line["access_token"] == REDACTED


def test_pii_inside_free_text_and_nested_values_is_scrubbed(log_lines):
    get_logger("t").warning(
        "smtp.rejected",
        detail=f"550 mailbox {EMAIL} unknown; call 06 00 00 00 00",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "r-1"},
        recipients=[{"family_name": "Patient", "given_name": "Test"}],
    )
    (line,) = log_lines()
    raw = json.dumps(line)
    for secret in (EMAIL, "06 00 00 00 00", TOKEN, "Patient"):
        assert secret not in raw
    assert line["headers"]["X-Request-ID"] == "r-1"


def test_every_line_is_one_json_object_with_the_on_call_fields(log_lines):
    bind_message_context("corr-1", "cause-1")
    get_logger("t").info("appointment.booked", stream_version=3)
    (line,) = log_lines()
    assert line["event"] == "appointment.booked"
    assert line["service.name"] == "unit-test"
    assert line["level"] == "info"
    assert line["correlation_id"] == "corr-1" and line["causation_id"] == "cause-1"
    assert line["timestamp"].endswith("Z")


def test_stdlib_records_from_libraries_are_json_too(log_lines):
    import logging

    logging.getLogger("kombu").warning("lost connection to %s", "amqp://guest:****@broker/")
    (line,) = log_lines()
    assert line["event"].startswith("lost connection")
    assert line["logger"] == "kombu"


@pytest.mark.parametrize(
    "key",
    [
        "email",
        "patientEmail",
        "phone_number",
        "given_name",
        "password",
        "client_secret",
        "api_key",
        "refresh-token",
        "birth_date",
        "Authorization",
    ],
)
def test_sensitive_keys(key):
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key", ["event", "service", "routing_key", "appointment_id", "correlation_id", "count"]
)
def test_operational_keys_are_kept(key):
    assert not is_sensitive_key(key)


def test_ids_and_timestamps_are_not_mistaken_for_phones():
    text = "at 2026-11-28T16:03:10Z position 1234567890123 event 5f0c"
    assert scrub_text(text) == text
    assert redact({"positions": [1, 2]}) == {"positions": [1, 2]}
