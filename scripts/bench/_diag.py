"""Where the time goes: breakdowns measured in the same run, quoted by the notes on the report."""

from __future__ import annotations

import json
import statistics
import time
import timeit
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from scripts.bench._appends import COLUMNS, raw_insert
from scripts.bench._env import BenchEnv
from scripts.bench._payload import EVENT_TYPE, event_metadata, payload, schema_version
from scripts.bench._read import pooled_store, walk
from scripts.bench._relay import drain_queue, raw_publisher, relay_for
from services.common.eventstore import NewEvent, RecordedEvent
from services.common.eventstore.append_codec import params as _params  # the store's own
from services.common.eventstore.statements import build
from services.common.eventstore.store import _tuple_rows
from services.common.relay.publisher import OutgoingMessage


@dataclass(slots=True)
class _SlotsEvent:
    """RecordedEvent's fields in a slots, non-frozen dataclass: what a cheaper row would cost."""

    position: int
    transaction_id: int
    stream_id: str
    stream_version: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


def _us(ns: list[int]) -> float:
    """Median of nanosecond samples, in µs."""
    return statistics.median(ns) / 1000


def append_breakdown(env: BenchEnv, n: int) -> dict[str, float]:
    """Per-append latency (median µs) of raw INSERT, append_events called directly, append()."""
    schema = env.fresh_schema()
    data, meta, version = payload(), event_metadata(), schema_version()
    insert, append_sql = raw_insert(schema), build(schema, "xid").append
    lat: dict[str, list[int]] = {"raw": [], "direct": [], "encode_direct": [], "store": []}
    with (
        psycopg.connect(env.database_url, autocommit=True) as raw,
        psycopg.connect(env.database_url, autocommit=True) as direct,
        pooled_store(env.database_url, schema) as store,
    ):
        for i in range(n):  # interleaved, one of each in turn: they share the same moments
            stream, expected = f"appointment-{i // 10}", i % 10
            row = (
                stream,
                expected + 1,
                uuid.uuid4(),
                EVENT_TYPE,
                version,
                Jsonb(data),
                Jsonb(meta),
            )
            t = time.perf_counter_ns()
            raw.execute(insert, row)
            lat["raw"].append(time.perf_counter_ns() - t)
            event = NewEvent(uuid.uuid4(), EVENT_TYPE, version, data, meta)
            params = _params("d" + stream, [event], expected)
            t = time.perf_counter_ns()
            direct.execute(append_sql, params).fetchone()
            lat["direct"].append(time.perf_counter_ns() - t)
            t = time.perf_counter_ns()
            event = NewEvent(uuid.uuid4(), EVENT_TYPE, version, data, meta)
            direct.execute(append_sql, _params("e" + stream, [event], expected)).fetchone()
            lat["encode_direct"].append(time.perf_counter_ns() - t)
            t = time.perf_counter_ns()
            store.append(
                "s" + stream, [NewEvent(uuid.uuid4(), EVENT_TYPE, version, data, meta)], expected
            )
            lat["store"].append(time.perf_counter_ns() - t)
    out = {f"{k}_us": _us(v) for k, v in lat.items()}
    out.update(_server_times(env, schema, n // 2))
    return out


def _server_times(env: BenchEnv, schema: str, n: int) -> dict[str, float]:
    """Server time per call (track_functions): append_events vs the same INSERT in plpgsql."""
    s = sql.Identifier(schema)
    data, meta, version = payload(), event_metadata(), schema_version()
    wrapper = sql.SQL(
        "CREATE FUNCTION {s}.bench_insert(a text, b int4, c uuid, d text, e int4, f jsonb, g jsonb)"
        " RETURNS void LANGUAGE plpgsql AS $$ BEGIN"
        " INSERT INTO {s}.raw_events ({cols}) VALUES (a, b, c, d, e, f, g); END $$"
    ).format(s=s, cols=sql.SQL(COLUMNS))
    call = sql.SQL("SELECT {}.bench_insert(%s, %s, %s, %s, %s, %s, %s)").format(s)
    append_sql = build(schema, "xid").append
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute(wrapper)
        conn.execute("SET track_functions = 'pl'")
        for i in range(n):
            stream, expected = f"server-{i // 10}", i % 10
            conn.execute(
                call,
                (stream, expected + 1, uuid.uuid4(), EVENT_TYPE, version, Jsonb(data), Jsonb(meta)),
            )
            event = NewEvent(uuid.uuid4(), EVENT_TYPE, version, data, meta)
            conn.execute(append_sql, _params(stream, [event], expected)).fetchone()
        conn.execute("SELECT pg_stat_force_next_flush()")
    query = (
        "SELECT funcname, total_time * 1000 / calls FROM pg_stat_user_functions"
        " WHERE schemaname = %s AND funcname IN ('append_events', 'bench_insert')"
    )
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        for _ in range(50):  # the backend publishes its counters shortly after it goes idle
            found = dict(conn.execute(query, (schema,)).fetchall())
            if len(found) == 2:
                break
            time.sleep(0.1)
    return {
        "server_append_us": found.get("append_events", float("nan")),
        "server_insert_us": found.get("bench_insert", float("nan")),
    }


def read_breakdown(env: BenchEnv, schema: str, events: int) -> dict[str, float]:
    """Raw, read_all's SQL with tuple rows, read_all: where between them the time goes."""
    rates = walk(env.database_url, schema, ["raw", "carnet-sql", "carnet"], events)
    row = (
        1,
        2,
        "s",
        1,
        uuid.uuid4(),
        EVENT_TYPE,
        1,
        payload(),
        event_metadata(),
        datetime.now(UTC),
    )
    number = 20_000
    make = _tuple_rows(RecordedEvent, None)  # as EventStore builds each row
    best = min(timeit.repeat(lambda: make(row), number=number, repeat=5))
    slots = min(timeit.repeat(lambda: _SlotsEvent(*row), number=number, repeat=5))
    data, meta = json.dumps(payload()).encode(), json.dumps(event_metadata()).encode()
    decode = min(
        timeit.repeat(lambda: (json.loads(data), json.loads(meta)), number=number, repeat=5)
    )
    return {
        "raw_per_s": rates["raw"],
        "sql_per_s": rates["carnet-sql"],
        "carnet_per_s": rates["carnet"],
        "object_us": best / number * 1e6,
        "slots_object_us": slots / number * 1e6,
        "decode_us": decode / number * 1e6,
    }


def _timed(obj: Any, attr: str, timers: dict[str, float], key: str) -> None:
    """Replace obj.attr (on the instance only) by a wrapper adding its time to timers[key]."""
    inner: Callable[..., Any] = getattr(obj, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return inner(*args, **kwargs)
        finally:
            timers[key] += time.monotonic() - start

    setattr(obj, attr, timed)


def relay_breakdown(
    env: BenchEnv, schema: str, messages: list[OutgoingMessage]
) -> dict[str, float]:
    """µs per message of the relay's steps (read, convert, send, wait confirms, save), and raw's."""
    relay_t: dict[str, float] = defaultdict(float)
    with relay_for(env.database_url, schema, env.amqp_uri, "bench-diag") as relay:
        _timed(relay.store, "read_all_raw", relay_t, "read")
        _timed(relay.publisher, "send", relay_t, "publish")
        _timed(relay.publisher, "wait_for_confirms", relay_t, "publish")
        _timed(relay.publisher.connection, "process_data_events", relay_t, "wait")
        _timed(relay.position, "save", relay_t, "save")
        cursor = relay.position.load()
        start = time.monotonic()
        while (new_cursor := relay.publish_once(cursor)) != cursor:
            cursor = new_cursor
        relay_t["total"] = time.monotonic() - start
    raw_t: dict[str, float] = defaultdict(float)
    with raw_publisher(env.amqp_uri) as publisher:
        _timed(publisher.connection, "process_data_events", raw_t, "wait")
        start = time.monotonic()
        for i in range(0, len(messages), 500):
            publisher.publish_batch(messages[i : i + 500])
        raw_t["total"] = time.monotonic() - start
    drain_queue(env.amqp_uri, 2 * len(messages))
    n = len(messages) / 1e6
    body = json.loads(messages[0].body)
    encode = min(
        timeit.repeat(lambda: json.dumps(body, separators=(",", ":")), number=20_000, repeat=5)
    )
    return {
        "relay_total_us": relay_t["total"] / n,
        "relay_read_us": relay_t["read"] / n,
        "relay_convert_us": (
            relay_t["total"] - relay_t["read"] - relay_t["publish"] - relay_t["save"]
        )
        / n,
        "relay_send_us": (relay_t["publish"] - relay_t["wait"]) / n,
        "relay_wait_us": relay_t["wait"] / n,
        "relay_save_us": relay_t["save"] / n,
        "raw_total_us": raw_t["total"] / n,
        "raw_send_us": (raw_t["total"] - raw_t["wait"]) / n,
        "raw_wait_us": raw_t["wait"] / n,
        "encode_us": encode / 20_000 * 1e6,
    }
