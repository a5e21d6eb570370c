"""Recorded vs unrecorded appointment searches (issue #5): `make bench-booking`.

A search served with its access record committed first (`AccessRecorder`, as the service
runs) against the very same search with recording switched off (`UnrecordedReads`, bench
only), walked in turn over a synthetic agenda seeded through booking's own command path.
The cost floor of one committed record, a bare INSERT + COMMIT, is measured in the same
moments, so the report can say how much of the difference is the commit itself.

The agenda is in _reads_data.py, every call into booking in _reads_service.py, the timing in
_reads_measure.py, the tables, figures and section in _reads_report.py.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

from scripts.bench import _cli
from scripts.bench._env import bench_database, database_machine, load_average
from scripts.bench._reads_data import PAGES, REACHED, first_queries
from scripts.bench._reads_measure import Floor, breakdown, last_record_json, measure
from scripts.bench._reads_report import (
    SECTION,
    figures,
    render_console,
    render_parts,
    render_section,
)
from scripts.bench._reads_service import READ, connectors, contexts, quiet_logging, seed, walk

DEFAULTS = {"practitioners": 20, "patients": 2_000, "appointments": 10_000, "searches": 1_000}
SETTINGS = ("fsync", "synchronous_commit", "shared_buffers", "wal_sync_method")
PACKAGES = ("psycopg", "psycopg-pool", "marshmallow", "structlog")


def main(argv: list[str] | None = None) -> int:
    """Seed, measure both scenarios, print the table; with --write-docs, update the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=DEFAULTS["patients"])
    parser.add_argument("--appointments", type=int, default=DEFAULTS["appointments"])
    parser.add_argument(
        "--searches",
        type=int,
        default=DEFAULTS["searches"],
        help=f"searches per side and scenario, in walks of {PAGES} pages",
    )
    _cli.add_output_options(parser, SECTION)
    args = parser.parse_args(argv)
    sizes = {
        "practitioners": DEFAULTS["practitioners"],
        "patients": args.patients,
        "appointments": args.appointments,
        "searches": args.searches,
    }
    if args.searches < PAGES or args.appointments < sizes["practitioners"]:
        parser.error(f"--searches must be >= {PAGES}, --appointments >= the practitioners")
    command = " ".join(["python scripts/bench/booking_reads.py", *(argv or sys.argv[1:])])
    _cli.stop_on_signals()
    quiet_logging()
    started, load_before = time.monotonic(), load_average()
    with bench_database(args.pg, "carnet_bench_booking") as url:
        info = database_machine(url, SETTINGS, PACKAGES)
        print(f"database {urlsplit(url).path[1:]}; sizes {sizes}", flush=True)
        with contexts(url) as (traced, untraced):
            t0 = time.monotonic()
            print("  seeding through commands.open_slots and commands.book", flush=True)
            agenda = seed(traced, sizes["practitioners"], sizes["patients"], sizes["appointments"])
            seeded = time.monotonic() - t0
            print(f"  seeded {agenda.booked:,} appointments in {seeded:.0f} s", flush=True)
            reached = agenda.practitioners[:REACHED]
            principals = connectors(reached)
            queries = first_queries(agenda, reached, math.ceil(args.searches / PAGES))
            walk(traced, principals[READ], queries[0])  # one record of a full page, for the floor
            record_json = last_record_json(url)
            scenarios = []
            with closing(Floor(url, record_json)) as floor:
                for label, p in principals.items():
                    print(f"  measuring: {label}", flush=True)
                    scenarios.append(measure(label, traced, untraced, p, queries, floor))
            print("  breakdown of record()", flush=True)
            parts = breakdown(traced, principals[READ], queries, url, record_json)
    info["load average (1/5/15 min)"] = f"{load_before} before, {load_average()} after"
    info["seeding"] = f"{seeded:.0f} s ({agenda.booked / seeded:,.0f} bookings/s)"
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    print(render_console(scenarios))
    print(render_parts(parts))
    _cli.publish(
        args,
        SECTION,
        lambda: render_section(scenarios, info, agenda, sizes, parts, command),
        "booking",
        lambda: figures(scenarios, parts),
        info,
    )
    return 0


if __name__ == "__main__":
    _cli.run(main, "the benchmark database was removed")
