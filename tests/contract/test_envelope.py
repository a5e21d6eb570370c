"""The envelope: built strictly for a new event, dumped to JSON form, loaded back leniently."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from contracts import (
    ContractViolation,
    Envelope,
    UnknownEventType,
    dump_envelope,
    load_envelope,
    load_payload,
    message_headers,
    message_properties,
    new_envelope,
)
from tests.contract.examples import APPOINTMENT, EXAMPLES, fake_id

NOW = datetime(2030, 1, 2, 8, 0, tzinfo=UTC)


def _booked(**kwargs: object) -> Envelope:
    kwargs = {"occurred_at": NOW, **kwargs}
    return new_envelope(
        "AppointmentBooked",
        EXAMPLES["AppointmentBooked"],
        stream=f"appointment-{APPOINTMENT}",
        stream_version=1,
        **kwargs,
    )


def test_new_envelope_fills_version_producer_and_correlation() -> None:
    envelope = _booked(event_id=UUID(fake_id(100)))
    assert envelope.schema_version == 1
    assert envelope.producer == "booking"
    assert envelope.correlation_id == fake_id(100)
    assert envelope.causation_id is None
    assert envelope.payload == EXAMPLES["AppointmentBooked"]


def test_a_caused_event_inherits_the_correlation() -> None:
    cause = _booked(correlation_id="req-0003")
    effect = new_envelope(
        "NotificationSent",
        EXAMPLES["NotificationSent"],
        stream=f"notification-{fake_id(15)}",
        stream_version=1,
        cause=cause,
    )
    assert effect.correlation_id == "req-0003"
    assert effect.causation_id == str(cause.event_id)
    assert effect.producer == "notification"


def test_envelope_round_trips_through_json() -> None:
    envelope = _booked(correlation_id="req-0004", causation_id="req-0004")
    wire = json.loads(json.dumps(dump_envelope(envelope)))
    assert wire["occurred_at"] == "2030-01-02T08:00:00+00:00"
    assert wire["event_id"] == str(envelope.event_id)
    assert load_envelope(wire) == envelope
    assert load_envelope(wire, strict=True) == envelope


def test_consumer_load_ignores_unknown_envelope_keys_unless_strict() -> None:
    wire = {**dump_envelope(_booked()), "trace": "x"}
    assert load_envelope(wire).type == "AppointmentBooked"
    with pytest.raises(ContractViolation):
        load_envelope(wire, strict=True)


def test_payload_of_a_loaded_envelope_loads_through_the_registry() -> None:
    envelope = load_envelope(dump_envelope(_booked()))
    payload = load_payload(envelope.type, envelope.schema_version, envelope.payload)
    assert payload["appointment_id"] == UUID(APPOINTMENT)


def test_new_envelope_is_producer_strict() -> None:
    with pytest.raises(ContractViolation):
        new_envelope(
            "AppointmentBooked",
            {**EXAMPLES["AppointmentBooked"], "surprise": 1},
            stream=f"appointment-{APPOINTMENT}",
            stream_version=1,
        )
    with pytest.raises(UnknownEventType):
        new_envelope("Nope", {}, stream="x-1", stream_version=1)


@pytest.mark.parametrize(
    "bad",
    [
        {"stream": "Appointment 1"},
        {"stream_version": 0},
        {"correlation_id": ""},
        {"causation_id": ""},
    ],
)
def test_malformed_envelope_fields_are_refused(bad: dict) -> None:
    kwargs = {"stream": f"appointment-{APPOINTMENT}", "stream_version": 1, **bad}
    with pytest.raises(ContractViolation):
        new_envelope("AppointmentBooked", EXAMPLES["AppointmentBooked"], **kwargs)


def test_naive_occurred_at_is_refused_everywhere() -> None:
    with pytest.raises(ValueError, match="aware"):
        _booked(occurred_at=datetime(2030, 1, 2, 8, 0))
    wire = {**dump_envelope(_booked()), "occurred_at": "2030-01-02T08:00:00"}
    with pytest.raises(ContractViolation):
        load_envelope(wire)


def test_envelope_keeps_the_producer_offset() -> None:
    paris = timezone(timedelta(hours=1))
    envelope = _booked(occurred_at=datetime(2030, 1, 2, 9, 0, tzinfo=paris))
    assert load_envelope(dump_envelope(envelope)).occurred_at == NOW


def test_amqp_properties_and_headers_match_the_documented_wire_format() -> None:
    envelope = _booked(correlation_id="req-0005")
    properties = message_properties(envelope)
    assert properties["message_id"] == str(envelope.event_id)
    assert properties["correlation_id"] == "req-0005"
    assert properties["type"] == "AppointmentBooked"
    assert properties["app_id"] == "booking"
    assert properties["delivery_mode"] == 2
    assert properties["timestamp"] == int(NOW.timestamp())
    headers = message_headers(envelope, position=42)
    assert headers == {
        "schema_version": 1,
        "correlation_id": "req-0005",
        "stream": f"appointment-{APPOINTMENT}",
        "stream_version": 1,
        "position": 42,
    }
    with pytest.raises(ContractViolation):
        message_headers(envelope, position=0)
