"""Event store and relay vs raw psycopg and pika, on this machine: `make bench-store`."""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

import psycopg
from psycopg import sql

from scripts.bench import _cli, _diag, _read, _relay
from scripts.bench._appends import WARMUP_PREFIX, Kind, Span, WriterGang
from scripts.bench._docs import write_page_keeping_others
from scripts.bench._env import BenchEnv, Servers, bench_env, load_average, machine_info
from scripts.bench._figures import Figure, write_json
from scripts.bench._notes import note_for
from scripts.bench._report import Row, render_console, render_markdown
from services.common.relay.publisher import OutgoingMessage

T = TypeVar("T")

SIZES = {  # default: about 3 minutes on 2 cores; quick: a smoke test of every path
    "default": {"single": 3000, "batches": 300, "read": 100_000, "relay": 20_000},
    "quick": {"single": 300, "batches": 30, "read": 5_000, "relay": 2_000},
}
BATCH = 100
SECTION = "## Event store and relay vs raw psycopg and pika"  # its heading in all.py's page
ROUNDS = 5  # each append run is split in rounds, the sides in turn, to share the same moments


def _count(env: BenchEnv, schema: str, table: str) -> int:
    """Rows the measured appends wrote (the warm-up streams aside)."""
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.{} WHERE stream_id NOT LIKE %s").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        return conn.execute(query, (WARMUP_PREFIX + "%",)).fetchone()[0]


def _rotated(items: list[T], run: int) -> list[T]:
    """Alternate who goes first, so warm-up and drift do not always favour the same side."""
    k = run % len(items)
    return items[k:] + items[:k]


def _say(row: Row, run: int, runs: int, rates: dict[str, float]) -> None:
    """One progress line: a run's rate for each side."""
    figures = "  ".join(f"{side} {rate:>8,.0f}/s" for side, rate in rates.items())
    print(f"  {row.label:<48} run {run + 1}/{runs}  {figures}", flush=True)


def bench_appends(
    env: BenchEnv, rows: dict[str, Row], writers: int, batches: int, batch: int, runs: int
) -> None:
    """Raw INSERTs vs append() under xid ordering (and lock ordering unless batched)."""
    sides: list[Kind] = ["raw", "xid"] if batch > 1 else ["raw", "xid", "lock"]
    if batch > 1:
        key, label = "batch", f"batch append ({batch} events/tx), 1 writer"
    else:
        key = f"append{writers}"
        label = f"single-event append, {writers} writer{'s' if writers > 1 else ''}"
    main = rows.setdefault(key, Row(key, label, target=0.8))
    lock = (
        rows.setdefault(key + "-lock", Row(key + "-lock", label + ", lock")) if batch == 1 else None
    )
    per_round = [batches // ROUNDS + (r < batches % ROUNDS) for r in range(ROUNDS)]
    with WriterGang(writers) as gang:
        for run in range(runs):
            schemas = {side: env.fresh_schema() for side in sides}
            env.checkpoint()
            spans = {side: Span() for side in sides}
            for round_ in range(ROUNDS):
                for side in _rotated(sides, run + round_):
                    spans[side] += gang.measure(
                        env.database_url, schemas[side], side, round_, per_round[round_], batch
                    )
            events = batches * batch
            for side in sides:
                table = "raw_events" if side == "raw" else "events"
                assert _count(env, schemas[side], table) == events, f"{side}: rows lost"
            rates = {side: events / spans[side].seconds for side in sides}
            main.add(rates["raw"], rates["xid"])
            main.add_cpu("raw", spans["raw"], events)
            main.add_cpu("carnet", spans["xid"], events)
            if lock is not None:
                lock.add(rates["raw"], rates["lock"])
                lock.add_cpu("raw", spans["raw"], events)
                lock.add_cpu("carnet", spans["lock"], events)
            _say(main, run, runs, rates)


def bench_read(env: BenchEnv, rows: dict[str, Row], events: int, runs: int) -> str:
    """Keyset SELECT by position vs read_all over the same filled table; returns the schema."""
    label = f"global log read ({events:,} events, pages of {_read.PAGE})"
    row = rows.setdefault("read", Row("read", label, target=1.0))
    schema = env.fresh_schema(with_raw=False)
    _read.fill(env.database_url, schema, events)
    _read.walk(env.database_url, schema, ["raw"], events)  # warm the caches, untimed
    for run in range(runs):
        rates = _read.walk(env.database_url, schema, _rotated(["raw", "carnet"], run), events)
        row.add(rates["raw"], rates["carnet"])
        _say(row, run, runs, rates)
    return schema


def bench_relay(
    env: BenchEnv, rows: dict[str, Row], events: int, runs: int
) -> tuple[str, list[OutgoingMessage]]:
    """Prebuilt messages with batched confirms vs Relay.publish_once over a filled store."""
    label = f"relay to a quorum queue ({events:,} messages)"
    row = rows.setdefault("relay", Row("relay", label, target=0.7))
    schema = env.fresh_schema(with_raw=False)
    _read.fill(env.database_url, schema, events)
    _relay.declare_queue(env.amqp_uri)
    messages = _relay.relay_messages(env.database_url, schema)
    for run in range(runs):
        env.checkpoint()
        rates = _relay.publish_both(
            env.database_url, schema, env.amqp_uri, f"bench-{run}", messages, run % 2 == 0
        )
        _relay.drain_queue(env.amqp_uri, 2 * events)
        row.add(rates["raw"], rates["carnet"])
        _say(row, run, runs, rates)
    return schema, messages


BASELINES = {
    "batch": "raw psycopg executemany",
    "read": "raw keyset SELECT",
    "relay": "raw pika, batched confirms",
}
PROFILES = {  # how all.py profiles a row that missed: a Carnet-only workload, under py-spy
    "append1": (["append", "--writers", "1"], r"EventStore\.append "),
    "append4": (["append", "--writers", "4"], r"EventStore\.append "),
    "batch": (["append", "--writers", "1", "--batch", str(BATCH)], r"EventStore\.append "),
    "read": (["read"], r"EventStore\.read_all "),
    "relay": (["relay"], r"Relay\.publish_once "),
}


def figures(rows: dict[str, Row], breakdown: dict[str, dict[str, float]]) -> list[Figure]:
    """The rows with a target, as all.py's summary shows them (medians, per-run ratios)."""
    units = {"relay": "messages/s"}
    out = []
    for row in rows.values():
        if row.target is None:
            continue
        argv, focus = PROFILES[row.key]
        out.append(
            Figure(
                key=f"store.{row.key}",
                label=row.label,
                unit=units.get(row.key, "events/s"),
                value=statistics.median(row.carnet),
                baseline=statistics.median(row.raw),
                baseline_label=BASELINES.get(row.key, "raw psycopg INSERT"),
                ratio=row.ratio,
                target=row.target,
                runs=row.ratios,
                section=SECTION,
                note=note_for(row, list(rows.values()), breakdown) if row.met is False else "",
                profile={"argv": ["scripts/bench/profile_workload.py", *argv], "focus": focus},
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every pair `--runs` times, print the table, write docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per pair, >= 3 (default 3)")
    parser.add_argument("--quick", action="store_true", help="small smoke sizes")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="report path (default docs/benchmarks.md; with --quick, none unless given)",
    )
    parser.add_argument("--pg", default=Servers.pg_url, help="maintenance database URL")
    parser.add_argument("--json", type=Path, default=None, help="figures for all.py, as JSON")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 (a median needs them)")
    sizes = SIZES["quick" if args.quick else "default"]
    output = args.output or (None if args.quick else REPO / "docs" / "benchmarks.md")
    _cli.stop_on_signals()
    started, load_before = time.monotonic(), load_average()
    rows: dict[str, Row] = {}
    with bench_env(Servers(pg_url=args.pg)) as env:
        print(f"database and vhost {env.name}; sizes {sizes}; {args.runs} runs", flush=True)
        info = machine_info(env)
        bench_appends(env, rows, 1, sizes["single"], 1, args.runs)
        bench_appends(env, rows, 4, sizes["single"], 1, args.runs)
        bench_appends(env, rows, 1, sizes["batches"], BATCH, args.runs)
        read_schema = bench_read(env, rows, sizes["read"], args.runs)
        relay_schema, messages = bench_relay(env, rows, sizes["relay"], args.runs)
        print("  breakdowns (where the time goes)", flush=True)
        breakdown = {
            "append": _diag.append_breakdown(env, sizes["single"]),
            "read": _diag.read_breakdown(env, read_schema, sizes["read"]),
            "relay": _diag.relay_breakdown(env, relay_schema, messages),
        }
    info["load average (1/5/15 min)"] = f"{load_before} before, {load_average()} after"
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    print(render_console(list(rows.values())))
    if output is not None:
        page = render_markdown(list(rows.values()), info, breakdown, sizes, args.runs, ROUNDS)
        write_page_keeping_others(output, page)
        print(f"wrote {output}")
    if args.json is not None:
        write_json(args.json, "store", figures(rows, breakdown), info)
    return 0


if __name__ == "__main__":
    _cli.run(main, "the benchmark database and vhost were removed")
