"""The append's wire format: a batch encoded for append_events, its answer decoded."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from services.common.eventstore.models import (
    AppendResult,
    ConcurrencyError,
    IdempotencyConflict,
    NewEvent,
)
from services.common.tracing import stamped

STALE_XID = (
    "this transaction wrote before the stream's head was committed, so its events would sort "
    "before the head in the global log: retry in a new transaction"
)


def params(
    stream_id: str, events: Sequence[NewEvent], expected_version: int | None
) -> dict[str, Any]:
    """Validate a batch and encode it: one JSON array, plus the ids as a uuid[] literal."""
    if not events:
        raise ValueError("nothing to append")
    if expected_version is not None and expected_version < 0:
        raise ValueError(f"expected_version must be None or >= 0, not {expected_version}")
    ids = [e.event_id for e in events]
    if not all(isinstance(i, UUID) for i in ids):
        raise TypeError("event ids must be UUIDs")
    if len(set(ids)) != len(ids):
        raise ValueError("a batch cannot hold the same event id twice")
    # Each event keeps the trace context it was decided in (services/common/tracing.py).
    batch = [
        [str(e.event_id), e.event_type, e.schema_version, e.data, stamped(e.metadata)]
        for e in events
    ]
    return {
        "stream_id": stream_id,
        "expected_version": expected_version,
        "batch": json.dumps(batch, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
        "event_ids": "{" + ",".join(map(str, ids)) + "}",
    }


def one(stream_id: str, event: NewEvent, expected_version: int | None) -> dict[str, Any]:
    """One event's typed parameters for append_one: no batch to encode or unpack."""
    if expected_version is not None and expected_version < 0:
        raise ValueError(f"expected_version must be None or >= 0, not {expected_version}")
    if not isinstance(event.event_id, UUID):
        raise TypeError("event ids must be UUIDs")
    return {
        "stream_id": stream_id,
        "expected_version": expected_version,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "data": _json(event.data),
        "metadata": _json(stamped(event.metadata)),
    }


def _json(value: Any) -> str:
    """JSON text as the batch encodes it: compact, UTF-8 as is, no NaN."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def result(
    row: tuple[Any, ...] | None, stream_id: str, expected_version: int | None
) -> AppendResult:
    """Turn append_events' (outcome, stream_version, positions) into a result or an exception."""
    assert row is not None, "append_events always returns one row"
    outcome, stream_version, positions = row
    if outcome == "appended":
        return AppendResult(tuple(positions), stream_version)
    if outcome == "stored":
        return AppendResult(tuple(positions), stream_version, already_stored=True)
    if outcome == "partial":
        raise IdempotencyConflict(
            f"stream {stream_id!r}: some, not all, of the batch's event ids are stored already"
        )
    if outcome == "conflict":
        raise ConcurrencyError(stream_id, expected_version, stream_version)
    if outcome == "stale":
        raise ConcurrencyError(stream_id, expected_version, stream_version, reason=STALE_XID)
    raise RuntimeError(f"append_events answered {outcome!r}")
