"""Turn a stored event into the AMQP message consumers and the audit ledger receive.

The body is the payload alone (what a nameko-native handler expects): for a RawRecordedEvent,
the stored JSON text byte for byte, unparsed; the envelope travels
in the AMQP properties (message_id, type, correlation_id, timestamp, app_id) and headers
(schema_version, causation_id, stream, stream_version, position, occurred_at, and the W3C
`traceparent`), as
`contracts.envelope.MessageHeadersSchema` documents.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pika
from opentelemetry.trace import SpanKind, set_span_in_context

from services.common import tracing
from services.common.eventstore.models import RawRecordedEvent, RecordedEvent
from services.common.relay.publisher import OutgoingMessage

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

AnyRecordedEvent = RecordedEvent | RawRecordedEvent


def default_routing_key(event_type: str) -> str:
    """`AppointmentBooked` -> `appointment.booked`: the design's `<aggregate>.<past_verb>`."""
    words = _CAMEL.sub(" ", event_type).lower().split()
    return f"{words[0]}.{'_'.join(words[1:])}" if len(words) > 1 else words[0]


def occurred_at(event: AnyRecordedEvent) -> str:
    """When the fact happened (metadata), else when it was recorded."""
    value = event.metadata.get("occurred_at")
    return str(value) if value else event.recorded_at.astimezone(UTC).isoformat()


def _trace_context(event: AnyRecordedEvent, producer: str, routing_key: str) -> dict[str, str]:
    """The trace context consumers continue: the relay's publish span (its start is the
    event's commit, so the relay's delay shows in the trace), else the stored one as is; an
    event appended outside any trace gets none."""
    if not tracing.is_recording(producer):
        return tracing.trace_headers(event.metadata)  # nothing exported: pass it on, unparsed
    exchange = f"{producer}.events"
    parent = tracing.extract(event.metadata)
    span = tracing.start(
        producer,
        f"publish {exchange}",
        SpanKind.PRODUCER,
        parent,
        {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.destination.name": exchange,
            "messaging.rabbitmq.destination.routing_key": routing_key,
            "messaging.message.id": str(event.event_id),
        },
        start_time=int(event.recorded_at.timestamp() * 1e9),
    )
    span.end()
    return tracing.traceparent_of(set_span_in_context(span))


def to_message(event: AnyRecordedEvent, producer: str, routing_key: str) -> OutgoingMessage:
    """Persistent JSON message; message_id is the event id so consumers can deduplicate."""
    meta = event.metadata
    event_id = str(event.event_id)
    correlation_id = str(meta.get("correlation_id") or event_id)
    causation_id = meta.get("causation_id")
    headers: dict[str, object] = {
        "schema_version": event.schema_version,
        "correlation_id": correlation_id,
        "stream": event.stream_id,
        "stream_version": event.stream_version,
        "position": event.position,
        "transaction_id": event.transaction_id,
        "occurred_at": occurred_at(event),
        # nameko's header convention, so nameko-native handlers bind the same ids.
        "nameko.correlation_id": correlation_id,
        "nameko.causation_id": event_id,
    }
    if causation_id is not None:
        headers["causation_id"] = str(causation_id)
    headers.update(_trace_context(event, producer, routing_key))
    properties = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,
        message_id=event_id,
        correlation_id=correlation_id,
        type=event.event_type,
        timestamp=int(event.recorded_at.timestamp()),
        app_id=producer,
        headers=headers,
    )
    data = event.data
    body = (
        data.encode()  # already JSON: the relay reads data::text (EventStore.read_all_raw)
        if isinstance(data, str)
        else json.dumps(data, separators=(",", ":"), default=str).encode()
    )
    return OutgoingMessage(f"{producer}.events", routing_key, body, properties)


def seconds_since(when: datetime) -> float:
    """Age of a stored event, for the relay's lag in seconds."""
    return max(0.0, (datetime.now(UTC) - when).total_seconds())
