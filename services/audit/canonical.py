"""Canonical encoding of ledger entries: the exact bytes the hash chain is computed over.

Deterministic JSON: sorted keys, no whitespace, UTF-8 (no \\u escapes for non-ASCII), no NaN
or infinity, timestamps as ISO-8601 UTC with microseconds. Any two processes that read the
same row produce the same bytes, so verify can recompute what the sequencer hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = bytes(32)  # prev_hash of seq 1: there is no previous row
HASH_SIZE = 32

# The fields of a ledger row that the chain protects, in no particular order (keys are sorted).
ENTRY_FIELDS = (
    "seq",
    "event_id",
    "source_service",
    "source_position",
    "stream_id",
    "stream_version",
    "event_type",
    "schema_version",
    "payload",
    "metadata",
    "occurred_at",
    "recorded_at",
)


def format_timestamp(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with microseconds and a Z: one spelling per instant."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous: give a timezone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default(value: Any) -> Any:
    """Timestamps in their canonical spelling; anything else is refused, never str()-ed."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"{type(value).__name__} has no canonical encoding")


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes of a JSON-like value (dict keys must be strings)."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    ).encode("utf-8")


def entry_document(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The protected fields of a row, normalised (uuid as text, timestamps canonical)."""
    missing = [f for f in ENTRY_FIELDS if f not in entry]
    if missing:
        raise KeyError(f"ledger entry lacks {missing}")
    doc = {f: entry[f] for f in ENTRY_FIELDS}
    doc["event_id"] = str(doc["event_id"])
    doc["occurred_at"] = format_timestamp(doc["occurred_at"])
    doc["recorded_at"] = format_timestamp(doc["recorded_at"])
    return doc


def entry_hash(prev_hash: bytes, entry: Mapping[str, Any]) -> bytes:
    """SHA-256(prev_hash || canonical(entry)): each row commits to all rows before it."""
    if len(prev_hash) != HASH_SIZE:
        raise ValueError("prev_hash must be 32 bytes")
    return hashlib.sha256(prev_hash + canonical_json(entry_document(entry))).digest()
