"""Canonical encoding of ledger entries: the exact bytes the hash chain is computed over.

Each row names its scheme (`hash_scheme`), so a chain written under an older one still
verifies. Scheme 2, written since issue #20, is RFC 8785 (JSON Canonicalization Scheme) over
the row's protected fields, `hash_scheme` included: any language with a JCS library recomputes
it (docs/audit.md "Entry format"). Scheme 1 is CPython's `json.dumps` with sorted keys and no
whitespace, which nothing outside Python promises to reproduce. Both: UTF-8, no NaN or
infinity, timestamps as ISO-8601 UTC with microseconds and a Z.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

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


def jcs(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value (I-JSON: integers within 2**53, finite numbers)."""
    return rfc8785.dumps(value)


SCHEMES: dict[int, Callable[[Any], bytes]] = {1: canonical_json, 2: jcs}
CURRENT_SCHEME = 2  # what the sequencer writes


def entry_document(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The protected fields of a row, normalised (uuid as text, timestamps canonical); from
    scheme 2 on, the scheme itself is protected too."""
    missing = [f for f in ENTRY_FIELDS if f not in entry]
    if missing:
        raise KeyError(f"ledger entry lacks {missing}")
    doc = {f: entry[f] for f in ENTRY_FIELDS}
    doc["event_id"] = str(doc["event_id"])
    doc["occurred_at"] = format_timestamp(doc["occurred_at"])
    doc["recorded_at"] = format_timestamp(doc["recorded_at"])
    scheme = entry.get("hash_scheme", 1)
    if scheme != 1:
        doc["hash_scheme"] = scheme
    return doc


def entry_hash(prev_hash: bytes, entry: Mapping[str, Any]) -> bytes:
    """SHA-256(prev_hash || canonical(entry)), in the row's scheme: each row commits to all
    rows before it."""
    if len(prev_hash) != HASH_SIZE:
        raise ValueError("prev_hash must be 32 bytes")
    encode = SCHEMES.get(entry.get("hash_scheme", 1))
    if encode is None:
        raise ValueError(f"unknown hash scheme {entry.get('hash_scheme')!r}")
    return hashlib.sha256(prev_hash + encode(entry_document(entry))).digest()
