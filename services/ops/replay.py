"""Engineers' replay: a stream or a slice of the log, decoded through the contracts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from contracts.errors import ContractError
from contracts.registry import REGISTRY, Registry
from services.common.eventstore.models import LogCursor, RecordedEvent
from services.common.eventstore.store import EventStore


def decoded(event: RecordedEvent, registry: Registry = REGISTRY) -> dict[str, Any]:
    """One event as a JSON-ready dict, its payload upcast to the latest contract version.

    A stored event is never rewritten (version, never edit): the upcast happens here, on read,
    and both versions are shown. An event no contract knows is shown as stored, flagged.
    """
    try:
        latest, payload = registry.upcast(event.event_type, event.schema_version, event.data)
        problem = None
    except ContractError as error:
        latest, payload, problem = event.schema_version, event.data, type(error).__name__
    out: dict[str, Any] = {
        "position": event.position,
        "stream": event.stream_id,
        "stream_version": event.stream_version,
        "event_id": str(event.event_id),
        "type": event.event_type,
        "stored_version": event.schema_version,
        "version": latest,
        "recorded_at": event.recorded_at.isoformat(),
        "correlation_id": event.metadata.get("correlation_id"),
        "causation_id": event.metadata.get("causation_id"),
        "payload": payload,
    }
    if problem:
        out["contract_problem"] = problem
    return out


def stream_events(
    store: EventStore, stream_id: str, as_of: datetime | None = None, to_version: int | None = None
) -> list[dict[str, Any]]:
    """A stream as it was at `as_of` (recorded at or before it), up to `to_version`."""
    return [decoded(e) for e in store.read_stream(stream_id, to_version=to_version, as_of=as_of)]


def export_events(
    store: EventStore,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Walk the global log in its gap-free order, keeping events recorded in [since, until)."""
    cursor = LogCursor.start()
    while events := store.read_all(cursor, limit=page):
        for event in events:
            if (since is None or event.recorded_at >= since) and (
                until is None or event.recorded_at < until
            ):
                yield decoded(event)
        cursor = events[-1].cursor
