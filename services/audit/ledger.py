"""The ledger's single sequencer: one row per event id, gap-free seq, hash-chained.

Every replica may ingest at once; an advisory transaction lock serialises the appends, so
seq is assigned and committed in one order and each row hashes the row committed before it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.audit.canonical import GENESIS_HASH, entry_hash
from services.common.consumed import ConsumedEvent

Connection = psycopg.Connection[Any]

LEDGER_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('carnet.audit.ledger', 0))"

# Tail, duplicate check and the values as the database will store them, in one statement.
# jsonb normalises what it stores (number spellings, duplicate keys), so the hash is computed
# over the values read back here, exactly as verify will read them later.
_PREPARE = """
SELECT EXISTS (SELECT FROM audit.ledger WHERE event_id = %(event_id)s) AS duplicate,
       t.seq, t.entry_hash, %(payload)s::jsonb AS payload, %(metadata)s::jsonb AS metadata,
       clock_timestamp() AS recorded_at
  FROM (SELECT) AS one
  LEFT JOIN LATERAL (SELECT seq, entry_hash FROM audit.ledger ORDER BY seq DESC LIMIT 1) AS t
    ON true
"""

INSERT_ENTRY = """
INSERT INTO audit.ledger (seq, event_id, source_service, source_position, stream_id,
                          stream_version, event_type, schema_version, payload, metadata,
                          occurred_at, recorded_at, prev_hash, entry_hash)
VALUES (%(seq)s, %(event_id)s, %(source_service)s, %(source_position)s, %(stream_id)s,
        %(stream_version)s, %(event_type)s, %(schema_version)s, %(payload_json)s,
        %(metadata_json)s, %(occurred_at)s, %(recorded_at)s, %(prev_hash)s, %(entry_hash)s)
ON CONFLICT (event_id) DO NOTHING
RETURNING seq
"""

ENTRY_COLUMNS = (
    "seq, event_id, source_service, source_position, stream_id, stream_version, event_type,"
    " schema_version, payload, metadata, occurred_at, recorded_at, prev_hash, entry_hash"
)


@dataclass(frozen=True)
class IncomingEvent:
    """An event as the ledger keeps it: envelope fields and the payload as received."""

    event_id: UUID
    source_service: str
    source_position: int
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    payload: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: datetime | None


def parse_timestamp(text: str | None) -> datetime | None:
    """An envelope's ISO-8601 time, or None when absent or not a time (never guessed)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    """AMQP headers may carry non-JSON types; keep their text."""
    return json.loads(json.dumps(dict(value), default=str))


def from_consumed(event: ConsumedEvent) -> IncomingEvent:
    """Ledger input from a consumed message: raw payload (medical fields still encrypted)."""
    metadata = {
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "headers": _json_safe(event.headers),
    }
    return IncomingEvent(
        event_id=event.event_id,
        source_service=event.producer,
        source_position=event.position,
        stream_id=event.stream,
        stream_version=event.stream_version,
        event_type=event.event_type,
        schema_version=event.schema_version,
        payload=dict(event.raw_payload),
        metadata=metadata,
        occurred_at=parse_timestamp(event.occurred_at),
    )


def append(conn: Connection, event: IncomingEvent) -> int | None:
    """Append inside the caller's transaction; the seq given, or None for a known event id.

    Commit promptly: the ledger lock is held until the transaction ends, and every replica's
    ingest waits for it.
    """
    # The lock comes first, in a statement of its own: under READ COMMITTED each statement
    # takes its snapshot when it starts, so the tail read below must start after the lock
    # is ours, or it could miss the row the previous holder just committed.
    conn.execute(LEDGER_LOCK_SQL)
    params: dict[str, Any] = {
        "event_id": event.event_id,
        "payload": Jsonb(event.payload),
        "metadata": Jsonb(event.metadata),
    }
    with conn.cursor(row_factory=dict_row) as cur:
        head = cur.execute(_PREPARE, params).fetchone()
    assert head is not None
    if head["duplicate"]:
        return None
    prev_hash = bytes(head["entry_hash"]) if head["seq"] is not None else GENESIS_HASH
    entry = {
        "seq": (head["seq"] or 0) + 1,
        "event_id": event.event_id,
        "source_service": event.source_service,
        "source_position": event.source_position,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "payload": head["payload"],
        "metadata": head["metadata"],
        "occurred_at": event.occurred_at,
        "recorded_at": head["recorded_at"],
    }
    row = conn.execute(
        INSERT_ENTRY,
        {
            **entry,
            "payload_json": Jsonb(entry["payload"]),
            "metadata_json": Jsonb(entry["metadata"]),
            "prev_hash": prev_hash,
            "entry_hash": entry_hash(prev_hash, entry),
        },
    ).fetchone()
    return int(row[0]) if row else None


def ingest(pool: Any, event: IncomingEvent) -> int | None:
    """Append in a short transaction of its own (pool: anything with .connection())."""
    with pool.connection() as conn, conn.transaction():
        return append(conn, event)


def tail(conn: Connection) -> int:
    """The highest seq (0 for an empty ledger)."""
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit.ledger").fetchone()
    return int(row[0]) if row else 0


def iter_entries(conn: Connection, after: int = 0, upto: int | None = None) -> Iterator[dict]:
    """Rows in seq order as dicts, streamed (a named cursor needs a transaction)."""
    query = f"SELECT {ENTRY_COLUMNS} FROM audit.ledger WHERE seq > %s"
    params: list[Any] = [after]
    if upto is not None:
        query += " AND seq <= %s"
        params.append(upto)
    with conn.cursor(name="ledger_entries", row_factory=dict_row) as cur:
        cur.itersize = 2000
        cur.execute(query + " ORDER BY seq", params)
        yield from cur
