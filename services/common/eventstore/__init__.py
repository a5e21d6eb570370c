"""The event store: each service's append-only events table, its streams and its global log."""

from services.common.eventstore.models import (
    AppendResult,
    ConcurrencyError,
    IdempotencyConflict,
    LogCursor,
    NewEvent,
    RecordedEvent,
)
from services.common.eventstore.store import EventStore

__all__ = [
    "AppendResult",
    "ConcurrencyError",
    "EventStore",
    "IdempotencyConflict",
    "LogCursor",
    "NewEvent",
    "RecordedEvent",
]
