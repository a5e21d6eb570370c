"""Ledger entry hashes, recomputed from a row as stored (both hash schemes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import rfc8785

# The fields of a row the hash protects (docs/audit.md "Entry format").
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


def _scheme_1(document: Mapping[str, Any]) -> bytes:
    """Rows written before entry format v2: sorted keys, no whitespace, UTF-8 as is."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _scheme_2(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 (JCS)."""
    return rfc8785.dumps(document)


SCHEMES = {1: _scheme_1, 2: _scheme_2}


def document(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The protected fields; from scheme 2 on, the scheme itself is one of them."""
    doc = {f: entry[f] for f in ENTRY_FIELDS}
    scheme = entry.get("hash_scheme", 1)
    if scheme != 1:
        doc["hash_scheme"] = scheme
    return doc


def entry_hash(prev_hash: bytes, entry: Mapping[str, Any]) -> bytes:
    """SHA-256(prev_hash || canonical(document)) in the row's scheme; KeyError if unknown."""
    encode = SCHEMES[entry.get("hash_scheme", 1)]
    return hashlib.sha256(prev_hash + encode(document(entry))).digest()
