"""AsyncAPI 2.6.0 document of every event in the registry, so consumers code against a spec."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from contracts.envelope import CONTENT_TYPE, PERSISTENT, MessageHeadersSchema
from contracts.json_schema import schema_to_json_schema
from contracts.registry import REGISTRY, EventContract, Registry

ASYNCAPI_VERSION = "2.6.0"
AMQP_BINDING_VERSION = "0.2.0"
CORRELATION_LOCATION = "$message.header#/correlation_id"

_SERVICE_DESCRIPTIONS = {
    "identity": "Practitioners, patients, connectors, credentials, grants and tokens.",
    "booking": "Schedules, slots, appointments, and a record of every read of them.",
    "notification": "Deliveries to patients by e-mail and SMS.",
    "audit": "The tamper-evident ledger, detections, incidents and breach notices.",
}


def channel_name(contract: EventContract) -> str:
    """The channel is the routing key (AMQP binding `is: routingKey`); the exchange is bound."""
    return contract.routing_key


def message_id(contract: EventContract) -> str:
    """Unique per version: PatientRegisteredV1 and PatientRegisteredV2 are distinct messages."""
    return f"{contract.event_type}V{contract.version}"


def build_document(registry: Registry = REGISTRY, *, version: str | None = None) -> dict[str, Any]:
    """The whole document: one channel per (exchange, routing key), one message per version."""
    registry.check()
    latest = registry.latest_contracts()
    names = [channel_name(c) for c in latest]
    if len(set(names)) != len(names):
        raise ValueError("two event types share a routing key: channel names would collide")
    producers = list(dict.fromkeys(c.producer for c in latest))
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:carnet:events",
        "info": {
            "title": "Carnet events",
            "version": version or _package_version(),
            "description": (
                "Events of the Carnet services on RabbitMQ. The body is the payload; "
                "headers carry schema_version, causation_id, stream and position. "
                "Versions are never edited: consumers upcast older versions on read and "
                "dead-letter versions newer than they know."
            ),
        },
        "servers": {
            "rabbitmq": {
                "url": "{host}:{port}",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The platform broker; one durable topic exchange per service.",
                "variables": {
                    "host": {"default": "localhost"},
                    "port": {"default": "5672"},
                },
            }
        },
        "defaultContentType": CONTENT_TYPE,
        "tags": [{"name": p, "description": _SERVICE_DESCRIPTIONS.get(p, p)} for p in producers],
        "channels": {channel_name(c): _channel(registry, c) for c in latest},
        "components": {
            "messages": {message_id(c): _message(registry, c) for c in registry.all_contracts()}
        },
    }


def _channel(registry: Registry, contract: EventContract) -> dict[str, Any]:
    """A routing key on its producer's exchange; older versions may still be replayed on it."""
    versions = list(reversed(registry.versions(contract.event_type)))
    refs = [
        {"$ref": f"#/components/messages/{message_id(registry.contract(contract.event_type, v))}"}
        for v in versions
    ]
    return {
        "description": (
            f"{contract.event_type} on exchange {contract.exchange} "
            f"with routing key {contract.routing_key}."
        ),
        "subscribe": {
            "operationId": f"receive{contract.event_type}",
            "summary": f"{contract.producer} publishes {contract.event_type}; subscribe to it.",
            "tags": [{"name": contract.producer}],
            "bindings": {
                "amqp": {
                    "deliveryMode": PERSISTENT,
                    "timestamp": True,
                    "ack": True,
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
            "message": refs[0] if len(refs) == 1 else {"oneOf": refs},
        },
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": contract.exchange,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _message(registry: Registry, contract: EventContract) -> dict[str, Any]:
    """One version of one event type: headers, payload and how to correlate it."""
    latest = registry.latest_version(contract.event_type)
    summary = (contract.schema.__doc__ or contract.event_type).strip().splitlines()[0]
    headers = schema_to_json_schema(MessageHeadersSchema, closed=False)
    headers["title"] = f"{message_id(contract)}Headers"
    headers["properties"]["schema_version"]["const"] = contract.version
    message: dict[str, Any] = {
        "name": contract.event_type,
        "messageId": message_id(contract),
        "title": f"{contract.event_type} v{contract.version}",
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "tags": [{"name": contract.producer}],
        "headers": headers,
        "payload": schema_to_json_schema(contract.schema),
        "correlationId": {
            "description": "Follows one request across services (also the AMQP correlation_id).",
            "location": CORRELATION_LOCATION,
        },
        "bindings": {
            "amqp": {"messageType": contract.event_type, "bindingVersion": AMQP_BINDING_VERSION}
        },
        # The body's bound (ADR 0013): producers cannot append past it, consumers dead-letter
        # a larger body as `oversized` before reading it.
        "x-carnet-max-bytes": contract.max_bytes,
    }
    if contract.version < latest:
        message["description"] = (
            f"Superseded by v{latest}; still readable, upcast on read. Never produced anew."
        )
    return message


def _package_version() -> str:
    """The installed carnet version, so the document says which code it describes."""
    try:
        return metadata.version("carnet")
    except metadata.PackageNotFoundError:
        return "0.0.0"
