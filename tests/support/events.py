"""Synthetic contract events for tests: real event types, obviously fake data."""

from __future__ import annotations

import json
import uuid
from typing import Any

from contracts.registry import REGISTRY
from services.common.eventstore.models import NewEvent
from tests.contract.examples import EXAMPLES


def new_event(event_type: str = "AppointmentBooked", **overrides: Any) -> NewEvent:
    """A valid event of `event_type` at its latest version, with a fresh id."""
    payload = {**EXAMPLES[event_type], **overrides}
    return NewEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=REGISTRY.latest_version(event_type),
        data=REGISTRY.dump_payload(event_type, payload),
        metadata={"correlation_id": f"corr-{uuid.uuid4().hex[:8]}"},
    )


def delivered(
    event_type: str, payload: Any = None, app_id: str | None = None, exchange: str = ""
) -> tuple[bytes, str, dict[str, Any], dict[str, Any], str]:
    """decode()'s arguments for a message as a relay sends it: the example unless `payload`."""
    body = (
        payload if payload is not None else REGISTRY.dump_payload(event_type, EXAMPLES[event_type])
    )
    properties = {
        "message_id": str(uuid.uuid4()),
        "type": event_type,
        "app_id": app_id or REGISTRY.contract(event_type).producer,
    }
    headers = {
        "schema_version": REGISTRY.latest_version(event_type),
        "stream": "s-1",
        "stream_version": 1,
        "position": 1,
    }
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, "application/json", properties, headers, exchange
