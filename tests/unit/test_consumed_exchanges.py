"""Which exchange an event may arrive on: its producer's, or the default one (a replay)."""

import json
import uuid

import pytest

from services.common.consumed import PoisonMessage, decode
from tests.contract.examples import EXAMPLES


def message(exchange: str, app_id: str = "booking"):
    body = json.dumps(EXAMPLES["AppointmentBooked"]).encode()
    properties = {
        "message_id": str(uuid.uuid4()),
        "type": "AppointmentBooked",
        "app_id": app_id,
        "correlation_id": "c-1",
        "timestamp": None,
    }
    headers = {
        "schema_version": 1,
        "stream": "appointment-x",
        "stream_version": 1,
        "position": 1,
        "causation_id": None,
    }
    return body, "application/json", properties, headers, exchange


def test_the_producers_exchange_and_the_replay_path_are_accepted():
    assert decode(*message("booking.events")).event_type == "AppointmentBooked"
    assert decode(*message("")).event_type == "AppointmentBooked"


def test_another_producers_exchange_is_forged():
    with pytest.raises(PoisonMessage) as caught:
        decode(*message("identity.events"))
    assert caught.value.reason == "forged-producer"
