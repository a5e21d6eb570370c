"""The audit ledger: what it keeps of each event, and how its rows are read back.

One row per event id, gap-free seq, hash-chained. Its one writer is the sequencer
(services/audit/sequencer.py, ADR 0010); verify, checkpoints and the access index read here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import pq
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.common.consumed import ConsumedEvent

Connection = psycopg.Connection[Any]

ENTRY_COLUMNS = (
    "seq, event_id, source_service, source_position, stream_id, stream_version, event_type,"
    " schema_version, payload, metadata, occurred_at, recorded_at, hash_scheme, prev_hash,"
    " entry_hash"
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


def _plain(value: Any) -> Any:
    """A value as jsonb_to_recordset casts it back: bytea as \\x hex, times ISO 8601, ids text."""
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def recordset(rows: list[dict[str, Any]]) -> Jsonb:
    """Rows for one `INSERT … SELECT … FROM jsonb_to_recordset(%s)`: a batch in one statement,
    which a statement-level guard checks once (migrations 0028, 0030)."""
    return Jsonb(rows, dumps=lambda v: json.dumps(v, default=_plain))


@contextmanager
def snapshot(conn: Connection) -> Iterator[None]:
    """One read-only REPEATABLE READ snapshot, so that what is checked is what is read (no
    transaction id is taken: no relay waits on it); the caller's own transaction if it holds
    one."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        yield
        return
    saved = conn.isolation_level, conn.read_only
    conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level, conn.read_only = saved


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
