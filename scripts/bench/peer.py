"""Carnet's EventStore against the `eventsourcing` library's PostgreSQL recorder (issue #11, 7).

The same append workloads as store.py (1 and 4 writers, single events and batches of 100) and
the same global-log read, each through raw psycopg, Carnet's EventStore and eventsourcing's
PostgresApplicationRecorder, on one throwaway database, the sides in turn within each run.
eventsourcing is a benchmark-only dependency (`pip install -e '.[bench]'`), imported only by
_peer_data.py (its recorder, table and writers) and _peer_measure.py (the timing); the
figures, tables and section are in _peer_report.py, the per-call table in _peer_diag.py.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

from scripts.bench import _cli, _peer_diag, _read
from scripts.bench._docs import write_section
from scripts.bench._env import Servers, bench_env, machine_info
from scripts.bench._figures import write_json
from scripts.bench._peer_measure import ROUNDS, bench_appends, bench_read, per_call
from scripts.bench._peer_report import SECTION, PeerRow, figures, render_console, render_section

SIZES = {
    "default": {"single": 3000, "batches": 300, "read": 100_000, "calls": 1000},
    "quick": {"single": 300, "batches": 30, "read": 5_000, "calls": 100},
}
BATCH = 100


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
