"""From a use case's decisions to the store: contract-checked NewEvents, and the rerun loop.

Every service's use cases do the same two things: validate each decided (type, payload)
against its latest contract before it is stored, and rerun a load-decide-append unit when a
stream moved under it. One implementation, so the services cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from contracts.registry import REGISTRY
from services.common.eventstore.models import ConcurrencyError, NewEvent
from services.common.logging import current_ids

T = TypeVar("T")
# (event type, JSON-ready payload): what an aggregate decides; a use case appends it.
Decided = tuple[str, dict[str, Any]]


def new_events(decided: Sequence[Decided], causation_id: str | None = None) -> list[NewEvent]:
    """Validate each decision against its contract (JSON form out) and wrap it for the store."""
    metadata = dict(current_ids())
    if causation_id:
        metadata["causation_id"] = causation_id
    return [
        NewEvent(
            event_id=uuid.uuid4(),
            event_type=event_type,
            schema_version=REGISTRY.latest_version(event_type),
            data=REGISTRY.dump_payload(event_type, payload),
            metadata=metadata,
        )
        for event_type, payload in decided
    ]


def retrying(work: Callable[[], T], attempts: int = 5) -> T:
    """Rerun a load-decide-append unit when a stream moved under it (ConcurrencyError)."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except ConcurrencyError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
