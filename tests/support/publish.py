"""Events published as a producer would (or as an attacker could), straight with pika."""

from __future__ import annotations

import json
import uuid

import pika

from contracts.registry import REGISTRY
from tests.contract.examples import EXAMPLES
from tests.support.amqp import connect

BOOKED = "AppointmentBooked"


def publish(
    amqp_uri,
    body: bytes,
    *,
    event_type=BOOKED,
    content_type="application/json",
    message_id=None,
    version=None,
    app_id="booking",
    correlation_id="corr-consumer-1",
    exchange="booking.events",
    routing_key=None,
    headers=None,
):
    extra = headers or {}
    headers = {
        "schema_version": version or REGISTRY.latest_version(event_type),
        "stream": "appointment-test",
        "stream_version": 1,
        "position": 1,
        **extra,
    }
    props = pika.BasicProperties(
        content_type=content_type,
        delivery_mode=2,
        message_id=message_id or str(uuid.uuid4()),
        type=event_type,
        app_id=app_id,
        correlation_id=correlation_id,
        headers=headers,
    )
    with connect(amqp_uri) as conn:
        key = routing_key or REGISTRY.contract(event_type).routing_key
        conn.channel().basic_publish(exchange, key, body, props)
    return props.message_id


def valid_body(event_type=BOOKED) -> bytes:
    return json.dumps(REGISTRY.dump_payload(event_type, EXAMPLES[event_type])).encode()
