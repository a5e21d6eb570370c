"""Global log workloads: fill a store server-side, then walk it raw and with read_all."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from scripts.bench._payload import EVENT_TYPE, event_metadata, payload, schema_version
from services.common.eventstore import EventStore, LogCursor
from services.common.eventstore.statements import RECORDED_COLUMNS, build

PAGE = 1000
Step = Callable[[], int]  # reads the next page, returns how many events it got


def fill(database_url: str, schema: str, events: int, per_transaction: int = 1) -> None:
    """Fill <schema>.events server-side: one committed transaction per event, like appends."""
    block = sql.SQL(
        "DO $$ BEGIN FOR i IN 0..{last} BY {step} LOOP"
        " INSERT INTO {s}.events (stream_id, stream_version, event_id, event_type,"
        " schema_version, data, metadata)"
        " SELECT 'appointment-' || (j / 10), j % 10 + 1, gen_random_uuid(), {type}, {version},"
        " {data}::jsonb, {meta}::jsonb FROM generate_series(i, least(i + {step}, {end}) - 1) j;"
        " COMMIT; END LOOP; END $$"
    ).format(
        last=sql.Literal(events - 1),
        step=sql.Literal(per_transaction),
        end=sql.Literal(events),
        s=sql.Identifier(schema),
        type=sql.Literal(EVENT_TYPE),
        version=sql.Literal(schema_version()),
        data=sql.Literal(json.dumps(payload(), separators=(",", ":"))),
        meta=sql.Literal(json.dumps(event_metadata(), separators=(",", ":"))),
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # a setup step, not what is measured
        conn.execute(block)
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}.events").format(sql.Identifier(schema)))


@contextmanager
def pooled_store(database_url: str, schema: str) -> Iterator[EventStore]:
    """An EventStore on a one-connection pool, as a service's relay or projection holds it."""
    with ConnectionPool(database_url, min_size=1, max_size=1) as pool:
        pool.wait()
        yield EventStore(pool, schema)


def raw_step(conn: psycopg.Connection, schema: str) -> Step:
    """Keyset page by position, same columns, default tuple rows, prepared after 5 uses."""
    query = sql.SQL(
        "SELECT {cols} FROM {s}.events WHERE position > %s ORDER BY position LIMIT {n}"
    ).format(cols=sql.SQL(RECORDED_COLUMNS), s=sql.Identifier(schema), n=sql.Literal(PAGE))
    last = 0

    def step() -> int:
        nonlocal last
        rows = conn.execute(query, (last,)).fetchall()
        last = rows[-1][0] if rows else last
        return len(rows)

    return step


def carnet_step(store: EventStore) -> Step:
    """EventStore.read_all(cursor, limit=1000)."""
    cursor = LogCursor.start()

    def step() -> int:
        nonlocal cursor
        events = store.read_all(cursor, limit=PAGE)
        cursor = events[-1].cursor if events else cursor
        return len(events)

    return step


def carnet_sql_step(conn: psycopg.Connection, schema: str) -> Step:
    """read_all's own SQL (xid order, unprepared) on a plain connection, tuple rows."""
    query = build(schema, "xid").read_all
    cursor = (0, 0)

    def step() -> int:
        nonlocal cursor
        params = {"transaction_id": cursor[0], "position": cursor[1], "limit": PAGE}
        rows = conn.execute(query, params, prepare=False).fetchall()
        cursor = (rows[-1][1], rows[-1][0]) if rows else cursor
        return len(rows)

    return step


def walk(database_url: str, schema: str, sides: list[str], expected: int) -> dict[str, float]:
    """Walk the whole log once per side, page by page in turn, so all share the same moments."""
    with ExitStack() as stack:
        steps: dict[str, Step] = {}
        for side in sides:
            if side == "carnet":
                steps[side] = carnet_step(stack.enter_context(pooled_store(database_url, schema)))
                continue
            conn = stack.enter_context(psycopg.connect(database_url, autocommit=True))
            steps[side] = (raw_step if side == "raw" else carnet_sql_step)(conn, schema)
        seconds = dict.fromkeys(sides, 0.0)
        seen = dict.fromkeys(sides, 0)
        live = list(sides)
        while live:
            for side in list(live):
                start = time.monotonic()
                n = steps[side]()
                seconds[side] += time.monotonic() - start
                seen[side] += n
                if n == 0:
                    live.remove(side)
    for side in sides:
        assert seen[side] == expected, f"{side} read {seen[side]} events, not {expected}"
    return {side: expected / seconds[side] for side in sides}
