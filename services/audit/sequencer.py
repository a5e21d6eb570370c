"""The ledger's one writer: consumers stage events concurrently; one lock holder chains a batch.

Every replica may ingest at once. A consumer first stages its event (an ordinary insert, no
lock), then takes the ledger's advisory lock and moves every staged row — its own and those
staged meanwhile by other workers or replicas — into the ledger in one transaction, assigning
seq, prev_hash and entry_hash in staging order: seq is assigned and committed in one order
and each row hashes the row committed before it. (Taking that lock per event, for three round
trips each, queued every consumer behind the others at ~150 events/s on a busy 2-core
machine: ADR 0010.) A staged row is durable before the message is acked, and the consumer
returns only once its event is ledgered (by itself or by another holder).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import errors
from psycopg.rows import dict_row

from services.audit.canonical import CURRENT_SCHEME, GENESIS_HASH, entry_hash
from services.audit.ledger import ENTRY_COLUMNS, Connection, IncomingEvent, recordset
from services.common.consumed import PoisonMessage
from services.common.logging import get_logger

log = get_logger(__name__)

BATCH = 500
NOT_RECORDED = "CL001"  # SQLSTATE of audit.ledger_guard (migration 0028): no such stored event
LEDGER_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('carnet.audit.ledger', 0))"
# A batch in one statement (autocommit: its own transaction); the staging guard checks each row.
_STAGE = """
INSERT INTO audit.ledger_staging (event_id, source_service, source_position, stream_id,
                                  stream_version, event_type, schema_version, payload,
                                  metadata, occurred_at)
SELECT x.event_id, x.source_service, x.source_position, x.stream_id, x.stream_version,
       x.event_type, x.schema_version, x.payload, x.metadata, x.occurred_at
  FROM jsonb_to_recordset(%s) AS x(
       event_id uuid, source_service text, source_position bigint, stream_id text,
       stream_version integer, event_type text, schema_version integer, payload jsonb,
       metadata jsonb, occurred_at timestamptz)
 WHERE NOT EXISTS (SELECT FROM audit.ledger l WHERE l.event_id = x.event_id)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""
# jsonb normalises what it stores: the hash is computed over the values read back, as verify
# will read them. clock_timestamp() is per row: the ledger's own time of each entry. Each row
# also says whether the ledger holds its event already (a redelivery ledgered meanwhile) and
# where the ledger ends: one round trip, not three.
_STAGED = """
SELECT s.event_id, s.source_service, s.source_position, s.stream_id, s.stream_version,
       s.event_type, s.schema_version, s.payload, s.metadata, s.occurred_at,
       clock_timestamp() AS recorded_at, l.seq AS known_seq, t.seq AS tail_seq,
       t.entry_hash AS tail_hash
  FROM audit.ledger_staging s
  LEFT JOIN audit.ledger l ON l.event_id = s.event_id
  LEFT JOIN (SELECT seq, entry_hash FROM audit.ledger ORDER BY seq DESC LIMIT 1) t ON true
 ORDER BY s.staged_seq LIMIT %s
"""
# A batch in one statement: the ledger's guard (migration 0028) checks it once, over its rows.
# With the batch's staged rows cleared in the same statement (one round trip).
_CLEAR_STAGED = "DELETE FROM audit.ledger_staging WHERE event_id = ANY(%s)"
_INSERT_ENTRIES = f"""
WITH cleared AS ({_CLEAR_STAGED})
INSERT INTO audit.ledger ({ENTRY_COLUMNS})
SELECT {ENTRY_COLUMNS} FROM jsonb_to_recordset(%s) AS x(
    seq bigint, event_id uuid, source_service text, source_position bigint, stream_id text,
    stream_version integer, event_type text, schema_version integer, payload jsonb,
    metadata jsonb, occurred_at timestamptz, recorded_at timestamptz, hash_scheme integer,
    prev_hash bytea, entry_hash bytea)
"""
_REFUSED = """
DELETE FROM audit.ledger_staging
 WHERE NOT audit.is_recorded(source_service, event_id, source_position, stream_id,
                             stream_version, event_type, schema_version, payload, metadata,
                             occurred_at)
RETURNING event_id, source_service
"""


def stage(conn: Connection, events: list[IncomingEvent]) -> set[UUID]:
    """Stage the events in one statement (committed on return); the ids staged now (not those
    the ledger or staging already had).

    An event its producer did not record as received is refused by the database's guard: a
    lone event is raised as poison (it goes to the dead-letter queue alone, the ledger never
    holds it); in a batch the refusal fails the batch, which the consumer runs again one by
    one (nameko_ext/batch_consumer.py)."""
    rows = [
        {
            "event_id": e.event_id,
            "source_service": e.source_service,
            "source_position": e.source_position,
            "stream_id": e.stream_id,
            "stream_version": e.stream_version,
            "event_type": e.event_type,
            "schema_version": e.schema_version,
            "payload": e.payload,
            "metadata": e.metadata,
            "occurred_at": e.occurred_at,
        }
        for e in events
    ]
    try:
        if conn.autocommit:  # the consumer's way: one round trip, its own transaction
            staged = conn.execute(_STAGE, (recordset(rows),)).fetchall()
        else:
            with conn.transaction():
                staged = conn.execute(_STAGE, (recordset(rows),)).fetchall()
    except errors.DatabaseError as exc:
        if exc.sqlstate != NOT_RECORDED or len(events) != 1:
            raise
        event = events[0]
        raise PoisonMessage(
            "not-recorded-by-producer",
            f"{event.source_service}.events holds no such event at position "
            f"{event.source_position}",
        ) from None
    return {r[0] for r in staged}


def sequence(conn: Connection, batch: int = BATCH) -> int:
    """Under the ledger lock, chain up to `batch` staged rows into the ledger; rows moved."""
    return sum(moved for _, moved in _sequenced(conn, batch).values())


def _sequenced(conn: Connection, batch: int = BATCH) -> dict[UUID, tuple[int, bool]]:
    """`sequence`, saying for each staged event of the batch its seq and whether it moved now.

    A staged row the ledger's guard refuses (staged before it existed: staging checks the
    same now) is taken out of staging and logged, so it cannot block every batch behind it;
    verify then names its event as missing, and a replay can send it again."""
    try:
        return _sequence(conn, batch)
    except errors.DatabaseError as exc:
        if exc.sqlstate != NOT_RECORDED:
            raise
        with conn.transaction():
            refused = conn.execute(_REFUSED).fetchall()
        if not refused:
            raise
        for event_id, source in refused:
            log.error("ledger.staged_event_refused", event_id=str(event_id), source=source)
        return {}


def _sequence(conn: Connection, batch: int) -> dict[UUID, tuple[int, bool]]:
    """One batch: lock, read staging, chain, insert in one statement, clear staging."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # The lock comes first, in a statement of its own: under READ COMMITTED each statement
        # takes its snapshot when it starts, so the reads below must start after the lock is
        # ours, or they could miss the rows the previous holder just committed.
        cur.execute(LEDGER_LOCK_SQL)
        staged = cur.execute(_STAGED, (batch,)).fetchall()
        if not staged:
            return {}
        seq = staged[0]["tail_seq"] or 0
        prev = bytes(staged[0]["tail_hash"]) if staged[0]["tail_hash"] else GENESIS_HASH
        done: dict[UUID, tuple[int, bool]] = {}
        rows: list[dict[str, Any]] = []
        for entry in staged:
            known_seq = entry.pop("known_seq")
            del entry["tail_seq"], entry["tail_hash"]
            if known_seq is not None or entry["event_id"] in done:
                # A redelivery ledgered meanwhile: one row per event id.
                done.setdefault(entry["event_id"], (known_seq, False))
                continue
            seq += 1
            entry = {**entry, "seq": seq, "hash_scheme": CURRENT_SCHEME}
            digest = entry_hash(prev, entry)
            rows.append({**entry, "prev_hash": prev, "entry_hash": digest})
            done[entry["event_id"]] = (seq, True)
            prev = digest
        ids = [r["event_id"] for r in staged]
        if rows:
            cur.execute(_INSERT_ENTRIES, (ids, recordset(rows)))
        else:
            cur.execute(_CLEAR_STAGED, (ids,))
        return done


def ingest(pool: Any, event: IncomingEvent) -> int | None:
    """Stage, then sequence until the event is ledgered; its seq, or None if known before."""
    return ingest_all(pool, [event])[0]


def ingest_all(pool: Any, events: list[IncomingEvent]) -> list[int | None]:
    """`ingest` for a batch: one staging statement, then batches until all are ledgered."""
    ids = [UUID(str(e.event_id)) for e in events]
    wanted = set(ids)
    with pool.connection() as conn:
        conn.autocommit = True  # each step commits on its own; restored for the pool
        try:
            staged = stage(conn, events)
            seqs: dict[UUID, int] = {}
            for _ in range(1000):
                # Ours, or those of whoever staged before us; what the batch moved or found is
                # known without asking the ledger again.
                for event_id, (seq, _moved) in _sequenced(conn).items():
                    if event_id in wanted:
                        seqs[event_id] = seq
                missing = wanted - seqs.keys()
                if missing:  # a redelivery of ours was ledgered or staged by someone else
                    rows = conn.execute(
                        "SELECT event_id, seq FROM audit.ledger WHERE event_id = ANY(%s)",
                        (list(missing),),
                    ).fetchall()
                    seqs.update({r[0]: int(r[1]) for r in rows})
                if len(seqs) == len(wanted):
                    done: set[UUID] = set()
                    out: list[int | None] = []
                    for i in ids:  # a copy later in the batch was known before, as a redelivery
                        out.append(seqs[i] if i in staged and i not in done else None)
                        done.add(i)
                    return out
        finally:
            conn.autocommit = False
    raise RuntimeError("events staged but not ledgered after 1000 batches")
