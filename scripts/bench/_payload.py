"""The benchmark's event: a contract-valid AppointmentBooked payload and realistic metadata."""

from __future__ import annotations

import json
import uuid
from typing import Any

from contracts.registry import REGISTRY
from tests.contract.examples import EXAMPLES

EVENT_TYPE = "AppointmentBooked"
PRODUCER = "booking"


def payload() -> dict[str, Any]:
    """The JSON form of the example AppointmentBooked, as a producer would append it."""
    return REGISTRY.dump_payload(EVENT_TYPE, EXAMPLES[EVENT_TYPE])


def schema_version() -> int:
    """The contract's latest version, the one a producer appends."""
    return REGISTRY.contract(EVENT_TYPE).version


def event_metadata() -> dict[str, Any]:
    """What a command handler puts in metadata: correlation, causation, when it happened."""
    return {
        "correlation_id": str(uuid.uuid4()),
        "causation_id": str(uuid.uuid4()),
        "occurred_at": "2030-01-01T08:00:00.000000+00:00",
        "principal_id": str(uuid.uuid4()),
    }


def event_size() -> int:
    """Bytes of data + metadata as compact JSON: what one stored event weighs."""
    return len(json.dumps(payload(), separators=(",", ":"))) + len(
        json.dumps(event_metadata(), separators=(",", ":"))
    )
