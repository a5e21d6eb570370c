"""The access index: the ledger's AppointmentsAccessed rows, projected for investigators.

Why reading `seq > position` never skips a row: the ledger's one writer, `sequencer.sequence`,
assigns `seq = tail + 1, tail + 2, …` to a batch under `pg_advisory_xact_lock` and holds that
lock until its transaction ends. PostgreSQL makes a commit visible (ProcArrayEndTransaction)
before it releases the transaction's locks, so the writer of the next batch can only take the
lock, and read the tail, once every seq up to it is visible to every new snapshot; a snapshot
that sees N+1 therefore sees N. A rolled-back batch leaves no hole: the next writer reads the
same tail and takes the same seqs. Nothing else inserts into the ledger (checkpoints go to
audit.checkpoints). The rows a snapshot sees are thus always 1..k, with no hole, and a hole
found here means rows were removed behind the triggers' back: catch_up stops (LedgerGap)
rather than skip it, and `carnet audit verify` says which.

Rows and position commit together, one batch per transaction (short: a long transaction would
hold back every service's relay, ADR 0003). The position row is locked FOR UPDATE, so two
catch-ups (timer, query, another replica) never index the same rows; the timer passes
`wait=False` and skips a round when another holds it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row

from services.audit.access_record import ACCESS_EVENT, ENTRY_COLUMNS, REQUEST_COLUMNS, project
from services.audit.ledger import Connection, recordset
from services.common.errors import Unavailable
from services.common.logging import get_logger

log = get_logger(__name__)

NAME = "access_index"
DEFAULT_BATCH = 5000
DEFAULT_INTERVAL_SECONDS = 0.2

_ENSURE = (
    "INSERT INTO audit.projection_positions (name, seq) VALUES (%s, 0)"
    " ON CONFLICT (name) DO NOTHING"
)
_BEHIND = """
SELECT (SELECT seq FROM audit.projection_positions WHERE name = %s) AS position,
       (SELECT coalesce(max(seq), 0) FROM audit.ledger) AS tail
"""
_LOCK = "SELECT seq FROM audit.projection_positions WHERE name = %s FOR UPDATE"
# Every row's seq (the gap check needs them all), but only access records' payloads: most of
# the ledger is other events, and reading (detoasting) their payloads was most of a batch.
LEDGER_PAGE = """
SELECT seq, source_service, event_type, schema_version,
       CASE WHEN source_service = 'booking' AND event_type = 'AppointmentsAccessed'
            THEN payload END AS payload,
       coalesce(occurred_at, recorded_at) AS occurred_at
  FROM audit.ledger WHERE seq > %s ORDER BY seq LIMIT %s
"""
_MOVE = "UPDATE audit.projection_positions SET seq = %s, updated_at = now() WHERE name = %s"
REQUEST_TYPES = (
    "bigint", "uuid", "text", "uuid", "uuid", "text", "text", "text", "text", "text", "text",
    "text", "text", "text[]", "boolean", "integer", "timestamptz", "text", "text",
)  # fmt: skip
ENTRY_TYPES = ("bigint", "uuid", "uuid", "uuid", "uuid", "uuid", "uuid", "timestamptz")
REQUESTS, ENTRIES = "audit.access_requests", "audit.access_entries"
TARGETS = "audit.access_targets"
LIVE: Mapping[str, str] = {REQUESTS: REQUESTS, ENTRIES: ENTRIES, TARGETS: TARGETS}


def _inserts(tables: Mapping[str, str]) -> tuple[str, str, str]:
    """The INSERTs into the live tables, or into the shadows `carnet replay rebuild` fills."""
    typed = ", ".join(f"{c} {t}" for c, t in zip(REQUEST_COLUMNS, REQUEST_TYPES, strict=True))
    request = (
        f"INSERT INTO {tables[REQUESTS]} ({', '.join(REQUEST_COLUMNS)})"
        f" SELECT {', '.join(REQUEST_COLUMNS)} FROM jsonb_to_recordset(%s) AS x({typed})"
    )
    # A batch's entries (20 a record) in one statement: the index guard checks each statement
    # once over its rows (migration 0030), and one statement is cheaper to send than many.
    entry, target = (
        f"INSERT INTO {tables[name]} ({', '.join(ENTRY_COLUMNS)})"
        f" SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in ENTRY_TYPES)})"
        " ON CONFLICT DO NOTHING"
        for name in (ENTRIES, TARGETS)
    )
    return request, entry, target


class IndexAhead(Unavailable):
    """Index rows for records the projector has not read yet: written behind its back."""

    def __init__(self) -> None:
        super().__init__(
            "the access index holds rows its projector did not write: no report is served;"
            " run `carnet audit verify`, then `carnet replay rebuild audit.access_index`",
            code="index_disagrees",
        )


class LedgerGap(RuntimeError):
    """The ledger lacks a seq below its tail: tampering, for verify to name; never skipped."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"ledger seq {seq} is absent: run `carnet audit verify`")
        self.seq = seq


def index_rows(
    conn: Connection, rows: Iterable[Mapping[str, Any]], tables: Mapping[str, str] = LIVE
) -> int:
    """Insert the index rows of the access records among `rows`; how many records."""
    requests, entries, targets = [], [], []
    for row in rows:
        if row["source_service"] == "booking" and row["event_type"] == ACCESS_EVENT:
            request, its_entries, its_targets = project(row)
            requests.append(request)
            entries.extend(its_entries)
            targets.extend(its_targets)
    insert_request, insert_entry, insert_target = _inserts(tables)
    with conn.cursor() as cur:
        if requests:  # one statement a batch, as JSON rows (field_classes is an array)
            rows = [dict(zip(REQUEST_COLUMNS, r, strict=True)) for r in requests]
            cur.execute(insert_request, (recordset(rows),))
        for statement, rows in ((insert_entry, entries), (insert_target, targets)):
            if rows:
                cur.execute(statement, [list(column) for column in zip(*rows, strict=True)])
    return len(requests)


def _batch(conn: Connection, batch: int, wait: bool) -> tuple[int, int] | None:
    """One transaction: lock the position, index the next rows, move it; None if locked."""
    with conn.transaction():
        lock = _LOCK if wait else _LOCK + " SKIP LOCKED"
        found = conn.execute(lock, (NAME,)).fetchone()
        if found is None:
            return None
        last = int(found[0])
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(LEDGER_PAGE, (last, batch)).fetchall()
        for offset, row in enumerate(rows):
            if row["seq"] != last + 1 + offset:
                raise LedgerGap(last + 1 + offset)
        try:
            indexed = index_rows(conn, rows)
        except psycopg.errors.UniqueViolation:  # the guard lets rows in past the position
            raise IndexAhead() from None
        if rows:
            conn.execute(_MOVE, (rows[-1]["seq"], NAME))
        return len(rows), indexed


def behind(conn: Connection) -> tuple[int | None, int]:
    """(position, ledger tail): two index lookups, no lock; position None before its row."""
    with conn.transaction():
        row = conn.execute(_BEHIND, (NAME,)).fetchone()
    assert row is not None
    return (None if row[0] is None else int(row[0])), int(row[1])


def catch_up(conn: Connection, batch: int = DEFAULT_BATCH, wait: bool = True) -> int:
    """Index every ledger row past the position, a batch per transaction; rows read.

    Queries call this first, so an answer includes everything ledgered before it. Use a
    connection outside any transaction (each batch then commits on its own) in READ COMMITTED.
    `wait=False` returns 0 at once when another catch-up holds the position.
    """
    at, tail = behind(conn)
    if at is not None and at >= tail:
        return 0
    if at is None:
        with conn.transaction():
            conn.execute(_ENSURE, (NAME,))
    total = 0
    while True:
        done = _batch(conn, batch, wait)
        if done is None:
            return total
        read, indexed = done
        total += read
        if read:
            log.debug("access_index.advanced", ledger_rows=read, access_records=indexed)
        if read < batch:
            return total


def position(conn: Connection) -> int:
    """The last ledger seq the index has read (0 before any)."""
    row = conn.execute(
        "SELECT seq FROM audit.projection_positions WHERE name = %s", (NAME,)
    ).fetchone()
    return int(row[0]) if row else 0


_last_error: dict[str, float] = {}
ERROR_LOG_EVERY_S = 30.0


def _log_error(event: str, **fields: Any) -> None:
    """One line per kind of failure per 30 s: the timer retries five times a second."""
    now = time.monotonic()
    if now - _last_error.get(event, -ERROR_LOG_EVERY_S) >= ERROR_LOG_EVERY_S:
        _last_error[event] = now
        log.error(event, **fields)


def tick(pool: Any, batch: int = DEFAULT_BATCH) -> int:
    """The timer's round: catch up unless another replica is at it; errors logged, not raised."""
    try:
        with pool.connection() as conn:
            return catch_up(conn, batch, wait=False)
    except LedgerGap as gap:
        _log_error("access_index.ledger_gap", seq=gap.seq)
    except Exception as error:  # the next tick retries; never a trace with values in it
        _log_error("access_index.catch_up_failed", error_type=type(error).__name__)
    return 0
