"""Carnet's EventStore against the `eventsourcing` library's PostgreSQL recorder (issue #11, 7).

The same append workloads as store.py (1 and 4 writers, single events and batches of 100) and
the same global-log read, each through raw psycopg, Carnet's EventStore and eventsourcing's
PostgresApplicationRecorder, on one throwaway database, the sides in turn within each run.
eventsourcing is a benchmark-only dependency (`pip install -e '.[bench]'`): this file is the
only one that imports it.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql

from scripts.bench import _cli, _peer_diag, _read
from scripts.bench._appends import WARMUP, AppendJob, Runner, Span, Streams, WriterGang
from scripts.bench._docs import write_section
from scripts.bench._env import BenchEnv, Servers, bench_env, machine_info
from scripts.bench._figures import write_json
from scripts.bench._payload import EVENT_TYPE, event_metadata, payload, schema_version
from scripts.bench._peer_report import SECTION, PeerRow, figures, render_console, render_section
from services.common.eventstore import NewEvent

TABLE = "stored_events"
NAMESPACE = uuid.UUID("6d1c4a4e-77a8-4f0e-9b7e-1f3b5c2a9d11")  # stream name -> originator id
SIZES = {
    "default": {"single": 3000, "batches": 300, "read": 100_000, "calls": 1000},
    "quick": {"single": 300, "batches": 30, "read": 5_000, "calls": 100},
}
BATCH = 100
ROUNDS = 5
SIDES = ("raw", "carnet", "peer")
RUNNER = "scripts.bench.peer:peer_runner"


def _datastore(database_url: str, schema: str) -> PostgresDatastore:
    """eventsourcing's datastore on one pooled connection, as a service process would hold it."""
    url = urlsplit(database_url)
    return PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=unquote(url.username or "postgres"),
        password=unquote(url.password or ""),
        schema=schema,
        pool_size=1,
    )


def create_peer_table(database_url: str, schema: str) -> None:
    """The recorder's own DDL: composite type, table, notification index, insert function."""
    datastore = _datastore(database_url, schema)
    try:
        PostgresApplicationRecorder(datastore, events_table_name=TABLE).create_table()
    finally:
        datastore.close()


def _state(data: dict, meta: dict) -> bytes:
    """The same data and metadata Carnet stores, as the JSON bytes a recorder keeps."""
    return json.dumps({"data": data, "metadata": meta}, separators=(",", ":")).encode()


def peer_runner(job: AppendJob) -> Runner:
    """insert_events per transaction (1 event, or a batch), encoding each event in the loop."""
    data, meta = payload(), event_metadata()
    datastore = _datastore(job.database_url, job.schema)
    recorder = PostgresApplicationRecorder(datastore, events_table_name=TABLE)
    with datastore.get_connection() as conn:  # the pool's only connection
        pid = conn.info.backend_pid

    def prepare(streams: Streams) -> Callable[[], None]:
        ids = [uuid.uuid5(NAMESPACE, stream) for stream, _ in streams]

        def run() -> None:
            for (_, expected), originator in zip(streams, ids, strict=True):
                recorder.insert_events(
                    [
                        StoredEvent(originator, expected + n, EVENT_TYPE, _state(data, meta))
                        for n in range(1, job.batch + 1)
                    ]
                )

        return run

    return prepare, datastore.close, pid


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


def fill_peer(database_url: str, schema: str, events: int) -> None:
    """The peer's table filled server-side like _read.fill: one transaction per event."""
    block = sql.SQL(
        "DO $$ BEGIN FOR j IN 0..{last} LOOP"
        " INSERT INTO {s}.{t} (originator_id, originator_version, topic, state)"
        " VALUES (md5('appointment-' || (j / 10))::uuid, j % 10 + 1, {type},"
        " convert_to({state}, 'UTF8')); COMMIT; END LOOP; END $$"
    ).format(
        last=sql.Literal(events - 1),
        s=sql.Identifier(schema),
        t=sql.Identifier(TABLE),
        type=sql.Literal(EVENT_TYPE),
        state=sql.Literal(_state(payload(), event_metadata()).decode()),
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # a setup step, not what is measured
        conn.execute(block)
        conn.execute(
            sql.SQL("VACUUM (ANALYZE) {}.{}").format(sql.Identifier(schema), sql.Identifier(TABLE))
        )


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
            datastore = _datastore(env.database_url, schema)
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
        datastore = _datastore(env.database_url, schema)
        stack.callback(datastore.close)
        recorder = PostgresApplicationRecorder(datastore, events_table_name=TABLE)
        conn = stack.enter_context(psycopg.connect(env.database_url, autocommit=True))
        store = stack.enter_context(_read.pooled_store(env.database_url, schema))

        def library() -> None:
            recorder.insert_events([StoredEvent(uuid.uuid4(), 1, EVENT_TYPE, _state(data, meta))])

        def by_hand() -> None:
            with conn.transaction():
                conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
                conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(TABLE)))
                conn.execute(insert, (uuid.uuid4(), EVENT_TYPE, _state(data, meta))).fetchone()

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


def main(argv: list[str] | None = None) -> int:
    """Every workload `--runs` times; print the table; --write-docs, --json for all.py."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small smoke sizes")
    parser.add_argument("--write-docs", action="store_true", help=f"write '{SECTION}'")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None, help="figures for all.py, as JSON")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 (a median needs them)")
    sizes = SIZES["quick" if args.quick else "default"]
    _cli.stop_on_signals()
    started = time.monotonic()
    rows = [
        PeerRow("append1", f"single-event append, 1 writer ({sizes['single']:,})", 1, 1),
        PeerRow("append4", f"single-event append, 4 writers ({sizes['single']:,})", 4, 1),
        PeerRow("batch1", f"batch append ({BATCH}/tx), 1 writer ({sizes['batches']} tx)", 1, BATCH),
        PeerRow(
            "batch4", f"batch append ({BATCH}/tx), 4 writers ({sizes['batches']} tx)", 4, BATCH
        ),
    ]
    read = PeerRow(
        "read", f"global log read ({sizes['read']:,} events, pages of {_read.PAGE})", 1, 1
    )
    with bench_env(Servers()) as env:
        print(f"database and vhost {env.name}; sizes {sizes}; {args.runs} runs", flush=True)
        info = machine_info(env)
        for row in rows:
            bench_appends(
                env, row, sizes["single"] if row.batch == 1 else sizes["batches"], args.runs
            )
        bench_read(env, read, sizes["read"], args.runs)
        calls = per_call(env, sizes["calls"])
    rows.append(read)
    info["packages"] += ", eventsourcing " + metadata.version("eventsourcing")
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    print(render_console(rows))
    if args.write_docs:
        section = render_section(
            rows, info, args.runs, ROUNDS, _peer_diag.lines(calls, sizes["calls"])
        )
        write_section(args.docs, SECTION, section)
        print(f"wrote '{SECTION}' in {args.docs}")
    if args.json is not None:
        write_json(args.json, "peer", figures(rows), info)
    return 0


if __name__ == "__main__":
    _cli.run(main, "the benchmark database and vhost were removed")
