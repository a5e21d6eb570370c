"""Process bodies for the load test: writers that commit late, a reader that tails the log.

Run in spawned processes (no eventlet there: real parallelism); they report through JSON files.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

import psycopg

from services.common.eventstore import ConcurrencyError, EventStore, LogCursor, NewEvent
from services.common.eventstore.append_codec import STALE_XID


class _Abandon(Exception):
    """Raised inside a transaction to roll it back on purpose."""


def write(url: str, schema: str, writer: int, quota: int, streams: int, out: str) -> None:
    """Commit at least `quota` events in small batches, each transaction slow to commit.

    Every transaction first writes an inbox row (so it holds an xid, like a consumer), sleeps,
    appends 1-5 events to one of `streams` shared streams, sleeps again, then commits - or,
    one time in twenty, rolls back. Records the ids committed, with the time just before
    COMMIT, and the ids rolled back.
    """
    rnd = random.Random(writer)
    store = EventStore(lambda: psycopg.connect(url), schema)
    committed: list[tuple[list[str], float]] = []
    abandoned: list[str] = []
    stale = clashes = 0
    done = 0
    with psycopg.connect(url) as conn:
        while done < quota:
            batch = [
                NewEvent(uuid.uuid4(), "LoadTested", 1, {"writer": writer, "n": done + i})
                for i in range(rnd.randint(1, 5))
            ]
            ids = [str(e.event_id) for e in batch]
            try:
                with conn.transaction():
                    conn.execute(
                        f"INSERT INTO {schema}.processed_events (consumer, event_id) "
                        "VALUES (%s, %s)",
                        (f"writer-{writer}", uuid.uuid4()),
                    )
                    time.sleep(rnd.uniform(0, 0.002))
                    store.append_in(conn, f"load-{rnd.randrange(streams)}", batch, None)
                    time.sleep(rnd.uniform(0, 0.002))
                    if rnd.random() < 0.05:
                        raise _Abandon
                    before_commit = time.monotonic()
                committed.append((ids, before_commit))
                done += len(batch)
            except _Abandon:
                abandoned.extend(ids)
            except ConcurrencyError as exc:
                stale += exc.reason == STALE_XID
                clashes += exc.reason != STALE_XID
    report = {"committed": committed, "abandoned": abandoned, "stale": stale, "clashes": clashes}
    Path(out).write_text(json.dumps(report))


def tail(
    url: str, schema: str, start: tuple[int, int], done_flag: str, out: str, timeout_s: float = 90.0
) -> None:
    """Tail read_all (and, for comparison, a naive position > last reader) until caught up.

    Records every event read_all returns with the time its batch arrived. Stops once the
    writers are done and no committed event is left after the cursor.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        holder = _Holder(conn)
        store, naive = EventStore(holder, schema), EventStore(holder, schema, ordering="lock")
        seen: list[tuple[str, int, int, str, int, float]] = []
        naive_seen: list[str] = []
        cursor = naive_cursor = LogCursor(*start)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = store.read_all(cursor, limit=500)
            arrived = time.monotonic()
            for e in batch:
                seen.append(
                    (
                        str(e.event_id),
                        e.transaction_id,
                        e.position,
                        e.stream_id,
                        e.stream_version,
                        arrived,
                    )
                )
            if batch:
                cursor = batch[-1].cursor
            naive_batch = naive.read_all(naive_cursor, limit=500)
            naive_seen.extend(str(e.event_id) for e in naive_batch)
            if naive_batch:
                naive_cursor = naive_batch[-1].cursor
            if not batch and Path(done_flag).exists() and store.count_pending_after(cursor) == 0:
                break
            if not batch:
                time.sleep(0.001)
        else:
            raise TimeoutError("the reader did not catch up")
    Path(out).write_text(json.dumps({"seen": seen, "naive_seen": naive_seen}))


class _Holder:
    """One long-lived connection handed out as if from a pool (the reader's hot loop)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def connection(self) -> _Same:
        return _Same(self._conn)


class _Same:
    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> psycopg.Connection:
        return self._conn

    def __exit__(self, *exc: object) -> None:
        return None
