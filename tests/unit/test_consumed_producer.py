"""app_id must be the producer the contract names for the type, whatever the exchange."""

import pytest

from services.common.consumed import PoisonMessage, decode
from tests.support.events import delivered


def message(event_type: str, app_id: str, exchange: str):
    return delivered(event_type, app_id=app_id, exchange=exchange)


@pytest.mark.parametrize("exchange", ["booking.events", ""])
def test_a_type_its_app_id_does_not_publish_is_forged(exchange):
    with pytest.raises(PoisonMessage) as caught:
        decode(*message("SuspiciousAccessDetected", "booking", exchange))
    assert caught.value.reason == "forged-producer"
    assert "does not publish SuspiciousAccessDetected" in caught.value.detail


@pytest.mark.parametrize("exchange", ["audit.events", ""])
def test_the_owner_of_the_type_is_accepted_on_its_exchange_and_on_replay(exchange):
    event = decode(*message("SuspiciousAccessDetected", "audit", exchange))
    assert (event.event_type, event.producer) == ("SuspiciousAccessDetected", "audit")


def test_an_unknown_type_is_unknown_not_forged():
    body, ct, properties, headers, exchange = message("AppointmentBooked", "booking", "")
    properties["type"] = "AppointmentTeleported"
    with pytest.raises(PoisonMessage) as caught:
        decode(body, ct, properties, headers, exchange)
    assert caught.value.reason == "unknown-event-type"
