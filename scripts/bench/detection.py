"""The detection scenario bench (issue #19): `make bench-detection`.

Honest partners that follow the sync contract and attackers, as scripted access streams fed
through the detection engine the audit service runs, on simulated time (a week in about a
minute), on a throwaway database; booking's quotas and identity's throttles and suspensions
are modelled around it. Prints one row per scenario and the issue's targets; --write-docs
writes the "Scenario bench" section of docs/detection.md.

The world is in _detection_world.py, the events in _detection_events.py, booking and identity
in _detection_platform.py, the actors in _detection_actors.py, the scenarios in
_detection_scenarios.py, the run in _detection_run.py, the figures in _detection_measure.py and
_detection_verdicts.py, the tables in _detection_report.py.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

from scripts.bench import _cli
from scripts.bench._detection_report import SECTION, render_console, render_section
from scripts.bench._detection_run import LAG, run_all
from scripts.bench._detection_scenarios import SCENARIOS
from scripts.bench._detection_verdicts import verdicts
from scripts.bench._docs import write_section
from scripts.bench._env import bench_database, database_machine, load_average
from services.common.logging import configure_logging

DOCS = REPO / "docs" / "detection.md"
LAGS = (0.5, 1.0, 2.0, 10.0)  # the containment lags the attacks are also run at


def main(argv: list[str] | None = None) -> int:
    """Run every scenario (and the attacks at other lags), print, --write-docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter honest weeks, one lag")
    parser.add_argument(
        "--lag", type=float, default=LAG.total_seconds(), help="finding to enforcement, s"
    )
    parser.add_argument("--scenarios", default="", help="comma-separated keys (default all)")
    parser.add_argument(
        "--workers", type=int, default=0, help="scenarios side by side (default 1, quick 4)"
    )
    parser.add_argument("--write-docs", action="store_true", help=f"write '{SECTION}'")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--pg", default=_cli.PG)
    args = parser.parse_args(argv)
    keys = [k for k in args.scenarios.split(",") if k]
    unknown = set(keys) - {s.key for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    command = " ".join(["python scripts/bench/detection.py", *(argv or sys.argv[1:])])
    _cli.stop_on_signals()
    configure_logging("audit", "ERROR", stream=open(os.devnull, "w"))  # noqa: SIM115
    started, load_before = time.monotonic(), load_average()
    with bench_database(args.pg, "carnet_bench_detection") as url:
        print(f"scenarios at a containment lag of {args.lag:g} s", flush=True)
        # One at a time by default: the engine's time per event is then not shared with others.
        workers = args.workers or (4 if args.quick else 1)
        outcomes = run_all(url, keys, args.quick, timedelta(seconds=args.lag), workers=workers)
        info = database_machine(url, ("shared_buffers", "synchronous_commit"), ("psycopg",))
    by_lag = {args.lag: [o for o in outcomes if not o.honest]}
    attacks = [o.key for o in outcomes if not o.honest]
    for lag in () if args.quick or not attacks else LAGS:
        if lag != args.lag:  # the same world on a database of its own: no state carried over
            print(f"attacks at a containment lag of {lag:g} s", flush=True)
            with bench_database(args.pg, "carnet_bench_detection") as url:
                by_lag[lag] = run_all(url, attacks, args.quick, timedelta(seconds=lag), workers=4)
    info["load average (1/5/15 min)"] = f"{load_before} at the start, {load_average()} at the end"
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    print(render_console(outcomes))
    if args.write_docs:
        write_section(args.docs, SECTION, render_section(outcomes, by_lag, args.lag, info, command))
        print(f"wrote '{SECTION}' in {args.docs}")
    return 0 if all(v.met for v in verdicts(outcomes)) else 1


if __name__ == "__main__":
    _cli.run(main, "the database was dropped")
