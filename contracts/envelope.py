"""The envelope every event travels in: identity, causality, place in its stream, producer."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate

from contracts.common import PRODUCERS
from contracts.errors import ContractViolation
from contracts.registry import REGISTRY, Registry

STREAM_PATTERN = r"^[a-z][a-z0-9_]*-\S+$"  # "<category>-<id>", e.g. "appointment-<uuid>"
CONTENT_TYPE = "application/json"
PERSISTENT = 2  # AMQP delivery_mode: survive a broker restart


@dataclass(frozen=True)
class Envelope:
    """One event with everything a consumer needs to order, trace and dedupe it."""

    event_id: uuid.UUID
    type: str
    schema_version: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None
    stream: str
    stream_version: int
    producer: str
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A naive timestamp is ambiguous across hosts; refuse it at construction."""
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")


class EnvelopeSchema(Schema):
    """Wire/storage form of `Envelope`; `payload` is checked separately by the registry."""

    event_id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[A-Z][A-Za-z0-9]*$"))
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    causation_id = fields.String(
        required=True, allow_none=True, validate=validate.Length(min=1, max=200)
    )
    stream = fields.String(required=True, validate=validate.Regexp(STREAM_PATTERN))
    stream_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    producer = fields.String(required=True, validate=validate.OneOf(PRODUCERS))
    payload = fields.Dict(keys=fields.String(), required=True)

    @post_load
    def _to_envelope(self, data: dict[str, Any], **kwargs: Any) -> Envelope:
        """Hand callers the dataclass, not a loose dict."""
        return Envelope(**data)


class MessageHeadersSchema(Schema):
    """AMQP headers the relay sets (the body is the payload alone); AsyncAPI documents these."""

    schema_version = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "Payload schema version; newer than known -> dead-letter."},
    )
    correlation_id = fields.String(
        required=True,
        metadata={"description": "Same as the AMQP correlation_id property, for tooling."},
    )
    causation_id = fields.String(
        metadata={"description": "Event id (or request id) that caused this event; absent if none."}
    )
    stream = fields.String(
        required=True,
        validate=validate.Regexp(STREAM_PATTERN),
        metadata={"description": "Stream id, e.g. appointment-<uuid>."},
    )
    stream_version = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "Version of the stream after this event (1-based)."},
    )
    position = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "Position in the producer's global log (source position)."},
    )
    traceparent = fields.String(
        validate=validate.Regexp(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
        metadata={
            "description": "W3C Trace Context of the publish (docs/observability.md); absent "
            "when the event was appended outside any trace."
        },
    )


def new_envelope(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    stream: str,
    stream_version: int,
    cause: Envelope | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
    registry: Registry = REGISTRY,
) -> Envelope:
    """Envelope a new event at the latest version, producer-strict; `cause` carries the chain."""
    contract = registry.contract(event_type)
    event_id = uuid.uuid4() if event_id is None else event_id
    if cause is not None:
        correlation_id = cause.correlation_id if correlation_id is None else correlation_id
        causation_id = str(cause.event_id) if causation_id is None else causation_id
    envelope = Envelope(
        event_id=event_id,
        type=event_type,
        schema_version=contract.version,
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=str(event_id) if correlation_id is None else correlation_id,
        causation_id=causation_id,
        stream=stream,
        stream_version=stream_version,
        producer=contract.producer,
        payload=registry.dump_payload(event_type, payload),
    )
    dump_envelope(envelope)  # fail now, not at the relay, on a malformed stream or id
    return envelope


def dump_envelope(envelope: Envelope) -> dict[str, Any]:
    """JSON-ready dict of an envelope, validated strictly (the payload is taken as is)."""
    data = EnvelopeSchema().dump(envelope)
    errors = EnvelopeSchema().validate(data)
    if errors:
        raise ContractViolation(f"envelope of {envelope.type}", errors)
    return data


def load_envelope(data: Mapping[str, Any], *, strict: bool = False) -> Envelope:
    """Envelope from its JSON form; lenient (unknown keys dropped) unless `strict`."""
    policy = RAISE if strict else EXCLUDE
    try:
        return EnvelopeSchema().load(data, unknown=policy)
    except ValidationError as error:
        raise ContractViolation("envelope", error.messages) from error
    except ValueError as error:  # Envelope.__post_init__
        raise ContractViolation("envelope", {"occurred_at": [str(error)]}) from error


def message_properties(envelope: Envelope) -> dict[str, Any]:
    """AMQP basic properties for publishing (names as in pika/kombu)."""
    return {
        "message_id": str(envelope.event_id),
        "correlation_id": envelope.correlation_id,
        "type": envelope.type,
        "timestamp": int(envelope.occurred_at.timestamp()),
        "app_id": envelope.producer,
        "content_type": CONTENT_TYPE,
        "delivery_mode": PERSISTENT,
    }


def message_headers(envelope: Envelope, position: int) -> dict[str, Any]:
    """AMQP headers for publishing; `position` is the event's place in the producer's log."""
    headers = {
        "schema_version": envelope.schema_version,
        "correlation_id": envelope.correlation_id,
        "stream": envelope.stream,
        "stream_version": envelope.stream_version,
        "position": position,
    }
    if envelope.causation_id is not None:
        headers["causation_id"] = envelope.causation_id
    errors = MessageHeadersSchema().validate(headers)
    if errors:
        raise ContractViolation(f"headers of {envelope.type}", errors)
    return headers
