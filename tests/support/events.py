"""Synthetic contract events for tests: real event types, obviously fake data."""

from __future__ import annotations

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
