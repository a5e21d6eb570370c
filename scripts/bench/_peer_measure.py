"""What peer.py times: appends through each side's writers, the global log read page by page,
and single-event calls interleaved, each side in turn within every run."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from scripts.bench import _peer_diag, _read
from scripts.bench._appends import WARMUP, Span, WriterGang
from scripts.bench._env import BenchEnv
from scripts.bench._payload import EVENT_TYPE, event_metadata, payload, schema_version
from scripts.bench._peer_data import (
    RUNNER,
    TABLE,
    create_peer_table,
    fill_peer,
    open_datastore,
    recorded_state,
)
from scripts.bench._peer_report import PeerRow
from services.common.eventstore import NewEvent

ROUNDS = 5
SIDES = ("raw", "carnet", "peer")


def _rows(env: BenchEnv, schema: str, table: str) -> int:
    """Rows in a side's table (warm-up transactions included)."""
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        return conn.execute(query).fetchone()[0]


def bench_appends(env: BenchEnv, row: PeerRow, batches: int, runs: int) -> None:
    """Each side in turn, round by round, on fresh tables each run (as store.py does)."""
    per_round = [batches // ROUNDS + (r < batches % ROUNDS) for r in range(ROUNDS)]
    events = batches * row.batch
    with WriterGang(row.writers) as gang:
        for run in range(runs):
            schemas = {side: env.fresh_schema(with_raw=side == "raw") for side in SIDES}
            create_peer_table(env.database_url, schemas["peer"])
            env.checkpoint()
            spans = {side: Span() for side in SIDES}
            for round_ in range(ROUNDS):
                k = (run + round_) % len(SIDES)
                for side in SIDES[k:] + SIDES[:k]:
                    kind, runner = {"raw": ("raw", ""), "carnet": ("xid", "")}.get(
                        side, ("peer", RUNNER)
                    )
                    spans[side] += gang.measure(
                        env.database_url,
                        schemas[side],
                        kind,  # type: ignore[arg-type]
                        round_,
                        per_round[round_],
                        row.batch,
                        runner,
                    )
            warm = ROUNDS * row.writers * WARMUP * row.batch
            tables = {"raw": "raw_events", "carnet": "events", "peer": TABLE}
            for side in SIDES:
                got = _rows(env, schemas[side], tables[side]) - warm
                assert got == events, f"{side}: {got} rows, not {events}"
                row.add(side, events / spans[side].seconds, spans[side], events)
            print(f"  {row.label:<44} run {run + 1}/{runs}  {row.progress()}", flush=True)


def _peer_step(recorder: PostgresApplicationRecorder, decode: bool) -> _read.Step:
    """select_notifications after the last id, a page at a time; optionally json.loads each."""
    last = 0

    def step() -> int:
        nonlocal last
        page = recorder.select_notifications(start=last + 1, limit=_read.PAGE)
        if page:
            last = page[-1].id
            if decode:
                for n in page:
                    json.loads(n.state)
        return len(page)

    return step


def bench_read(env: BenchEnv, row: PeerRow, events: int, runs: int) -> None:
    """raw keyset, read_all, select_notifications (bytes, then decoded): page by page in turn."""
    schema = env.fresh_schema(with_raw=False)
    create_peer_table(env.database_url, schema)
    _read.fill(env.database_url, schema, events)
    fill_peer(env.database_url, schema, events)
    sides = ("raw", "carnet", "peer-bytes", "peer")
    for run in range(-1, runs):  # run -1: one untimed walk of each, caches warm
        with ExitStack() as stack:
            raw = stack.enter_context(psycopg.connect(env.database_url, autocommit=True))
            store = stack.enter_context(_read.pooled_store(env.database_url, schema))
            datastore = open_datastore(env.database_url, schema)
            stack.callback(datastore.close)
            recorder = PostgresApplicationRecorder(datastore, events_table_name=TABLE)
            steps = {
                "raw": _read.raw_step(raw, schema),
                "carnet": _read.carnet_step(store),
                "peer-bytes": _peer_step(recorder, decode=False),
                "peer": _peer_step(recorder, decode=True),
            }
            k = max(run, 0) % len(sides)
            order = sides[k:] + sides[:k]
            seconds, seen, live = dict.fromkeys(sides, 0.0), dict.fromkeys(sides, 0), list(order)
            while live:
                for side in list(live):
                    start = time.monotonic()
                    n = steps[side]()
                    seconds[side] += time.monotonic() - start
                    seen[side] += n
                    if not n:
                        live.remove(side)
        assert all(v == events for v in seen.values()), f"events read: {seen}"
        if run >= 0:
            for side in sides:
                row.add(side, events / seconds[side])
            print(f"  {row.label:<44} run {run + 1}/{runs}  {row.progress()}", flush=True)


def per_call(env: BenchEnv, n: int) -> dict[str, tuple[float, float]]:
    """insert_events of one event, the same statements by hand, EventStore.append: in turn."""
    schema = env.fresh_schema(with_raw=False)
    create_peer_table(env.database_url, schema)
    data, meta, version = payload(), event_metadata(), schema_version()
    table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(TABLE))
    insert = sql.SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state)"
        " VALUES (%s, 1, %s, %s) RETURNING notification_id"
    ).format(table)
    with ExitStack() as stack:
        datastore = open_datastore(env.database_url, schema)
        stack.callback(datastore.close)
        recorder = PostgresApplicationRecorder(datastore, events_table_name=TABLE)
        conn = stack.enter_context(psycopg.connect(env.database_url, autocommit=True))
        store = stack.enter_context(_read.pooled_store(env.database_url, schema))

        def library() -> None:
            recorder.insert_events(
                [StoredEvent(uuid.uuid4(), 1, EVENT_TYPE, recorded_state(data, meta))]
            )

        def by_hand() -> None:
            with conn.transaction():
                conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
                conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(TABLE)))
                conn.execute(
                    insert, (uuid.uuid4(), EVENT_TYPE, recorded_state(data, meta))
                ).fetchone()

        def carnet() -> None:
            event = NewEvent(uuid.uuid4(), EVENT_TYPE, version, data, meta)
            store.append(f"diag-{uuid.uuid4()}", [event], 0)

        return _peer_diag.interleaved(
            {
                "eventsourcing `insert_events([event])`": library,
                "its statements by hand (LOCK, NOTIFY, INSERT; no pipeline)": by_hand,
                "Carnet `EventStore.append(stream, [event], 0)`": carnet,
            },
            n,
        )
