"""Decode an incoming AMQP message into a consumed event, or say exactly why it is poison."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from contracts.errors import ContractViolation, UnknownEventType, UnsupportedSchemaVersion
from contracts.registry import DEFAULT_MAX_BYTES, REGISTRY, Registry
from services.common.json_input import PYTHON_DIGITS, BadJson, parse_json

JSON = "application/json"


class PoisonMessage(Exception):
    """A message no retry can fix: it goes to the dead-letter queue with `reason`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ConsumedEvent:
    """An event as a handler sees it: envelope from the properties, payload at latest version."""

    event_id: UUID
    event_type: str
    schema_version: int
    producer: str
    stream: str
    stream_version: int
    position: int
    correlation_id: str
    causation_id: str | None
    occurred_at: str
    payload: dict[str, Any]
    raw_payload: dict[str, Any] = field(default_factory=dict)  # as received, before upcasting
    headers: dict[str, Any] = field(default_factory=dict)  # AMQP headers as received


REPLAY_EXCHANGE = ""


def _require(headers: Mapping[str, Any], key: str, kind: type) -> Any:
    value = headers.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PoisonMessage("missing-envelope-field", f"header {key!r} must be {kind.__name__}")
    return value


def _within_size(body: bytes | str, event_type: Any, registry: Registry) -> None:
    """Refuse a body larger than its type's contract allows before reading a byte of it.

    Producers cannot append such an event (Registry.dump_payload), so it was forged or
    corrupted; decoding 10 MB of JSON to learn that would be the attack. An unknown type is
    left to the envelope check, with the default bound.
    """
    try:
        limit = registry.contract(str(event_type)).max_bytes
    except (UnknownEventType, UnsupportedSchemaVersion):
        limit = DEFAULT_MAX_BYTES
    size = len(body.encode("utf-8", "surrogatepass")) if isinstance(body, str) else len(body)
    if size > limit:
        raise PoisonMessage("oversized", f"{size} bytes, {event_type!s:.60} allows {limit}")


def _only_undeclared(messages: Any) -> bool:
    """Every complaint, at any depth, is marshmallow's "Unknown field.": nothing else is wrong."""
    if isinstance(messages, dict):
        return bool(messages) and all(_only_undeclared(m) for m in messages.values())
    return messages == ["Unknown field."]


def decode(
    body: bytes | str,  # kombu's text when it could decode the body, else its bytes
    content_type: str | None,
    properties: Mapping[str, Any],
    headers: Mapping[str, Any],
    exchange: str,
    registry: Registry = REGISTRY,
) -> ConsumedEvent:
    """Check every layer in turn: content type, size, JSON, envelope, producer, contract."""
    if (content_type or "").split(";")[0].strip().lower() != JSON:
        raise PoisonMessage("wrong-content-type", f"expected {JSON}, got {content_type!r}")
    _within_size(body, properties.get("type"), registry)
    try:
        # The strict reader: an over-long integer (ValueError) or deep nesting (RecursionError)
        # under the size bound would otherwise escape decode and kill the consuming container.
        payload = parse_json(body, max_digits=PYTHON_DIGITS)
    except BadJson as exc:
        raise PoisonMessage("malformed-json", str(exc)) from exc
    if not isinstance(payload, dict):
        raise PoisonMessage("malformed-json", "body is not a JSON object")

    message_id, event_type = properties.get("message_id"), properties.get("type")
    producer = properties.get("app_id")
    try:
        event_id = UUID(str(message_id))
    except ValueError as exc:
        raise PoisonMessage("missing-envelope-field", "message_id is not a UUID") from exc
    if not event_type:
        raise PoisonMessage("missing-envelope-field", "no type property")
    # A producer can only publish on its own exchange: app_id must name that exchange's owner.
    # The default exchange ("") is how `carnet replay publish` re-delivers history to one
    # queue; only operators may publish there (broker permissions, docs/security.md).
    if not producer or exchange not in (f"{producer}.events", REPLAY_EXCHANGE):
        raise PoisonMessage("forged-producer", f"app_id {producer!r} on exchange {exchange!r}")
    # ... and app_id must be the service the contract says publishes this type: otherwise a
    # service could speak for another on its own exchange, or anyone on the replay path.
    try:
        owner = registry.contract(str(event_type)).producer
    except UnknownEventType as exc:
        raise PoisonMessage("unknown-event-type", str(event_type)) from exc
    if owner != producer:
        raise PoisonMessage("forged-producer", f"app_id {producer!r} does not publish {event_type}")
    version = _require(headers, "schema_version", int)

    try:
        loaded = registry.load_payload(str(event_type), version, payload)
    except UnknownEventType as exc:
        raise PoisonMessage("unknown-event-type", str(event_type)) from exc
    except UnsupportedSchemaVersion as exc:
        raise PoisonMessage("unsupported-schema-version", str(exc)) from exc
    except ContractViolation as exc:
        fields = sorted(exc.messages) if isinstance(exc.messages, dict) else []
        reason = "undeclared-fields" if _only_undeclared(exc.messages) else "schema-invalid"
        raise PoisonMessage(reason, f"{event_type} v{version} fields {fields}") from exc

    return ConsumedEvent(
        event_id=event_id,
        event_type=str(event_type),
        schema_version=version,
        producer=str(producer),
        stream=_require(headers, "stream", str),
        stream_version=_require(headers, "stream_version", int),
        position=_require(headers, "position", int),
        correlation_id=str(properties.get("correlation_id") or event_id),
        causation_id=headers.get("causation_id"),
        occurred_at=str(headers.get("occurred_at", "")),
        payload=loaded,
        raw_payload=payload,
        headers=dict(headers),
    )
