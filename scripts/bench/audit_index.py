"""The affected-set query at 1M and 10M access records (issue #6): `make bench-audit`.

Synthetic access records are COPYed straight into the access index (audit.access_requests and
audit.access_entries, the projections `access_index.catch_up` writes), one database per size,
with the same incident planted in each: a scraper connector reading ~6,000 appointments in one
day. `investigation.affected_set` for that connector and day then returns the same answer at
both sizes, so its time at 10M over its time at 1M says how the query scales with the index.
The ledger itself is left empty (see the docs section for why and what that leaves out).

The world and the incident are in _audit_index_data.py, the load in _audit_index_load.py, the
timing in _audit_index_measure.py, the verdict and the page in _audit_index_report.py and
_audit_index_section.py.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

from scripts.bench import _cli
from scripts.bench._audit_index_data import build_world, label, planted
from scripts.bench._audit_index_load import Loaded, load
from scripts.bench._audit_index_measure import first_run, ledger_hours, ledger_path, measure
from scripts.bench._audit_index_report import SECTION, figures, render_console
from scripts.bench._audit_index_scope import ledger_scope
from scripts.bench._audit_index_section import render_section
from scripts.bench._env import bench_database, database_machine, load_average
from services.audit.subjects import Scope
from services.common.logging import configure_logging

SIZES = (1_000_000, 10_000_000)  # access records = rows of audit.access_requests
RUNS = 11
LEDGER_SAMPLE = 2_000  # records sent the service's way: what 10M would take that way
SETTINGS = ("shared_buffers", "effective_cache_size", "work_mem", "random_page_cost", "jit",
            "max_parallel_workers_per_gather")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Load each size, time the query at each in turn, print the table; --write-docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SIZES),
        help="access records per database, comma-separated (default 1M,10M)",
    )
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per size (default {RUNS})")
    parser.add_argument(
        "--ledger-sample",
        type=int,
        default=LEDGER_SAMPLE,
        help=f"records sent through the ledger and catch_up (default {LEDGER_SAMPLE})",
    )
    _cli.add_output_options(parser, SECTION)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if len(sizes) < 2 or args.runs < 3:
        parser.error("--sizes needs two sizes at least, --runs 3 at least")
    command = " ".join(["python scripts/bench/audit_index.py", *(argv or sys.argv[1:])])
    _cli.stop_on_signals()
    configure_logging("audit", "WARNING", stream=open(os.devnull, "w"))  # noqa: SIM115
    started, load_before = time.monotonic(), load_average()
    world = build_world()
    plants = planted(world)
    subject = Scope.of_connector(world.scraper)
    print(f"ledger path: {args.ledger_sample:,} records staged, sequenced, caught up")
    path = ledger_path(args.pg, world, args.ledger_sample)
    print(
        f"  staged {path['stage_per_s']:,.0f}/s, sequenced {path['sequence_per_s']:,.0f}/s,"
        f" indexed {path['catch_up_per_s']:,.0f}/s: {sizes[-1]:,} would take"
        f" {ledger_hours(sizes[-1], path):.1f} h at least",
        flush=True,
    )
    loaded: dict[int, Loaded] = {}
    urls: dict[int, str] = {}
    with ExitStack() as stack:
        for size in sizes:
            name = "carnet_bench_audit_" + label(size).lower().replace(",", "")
            url = stack.enter_context(bench_database(args.pg, name))
            urls[size] = url
            print(f"database {urlsplit(url).path[1:]}: loading {size:,} access records", flush=True)
            loaded[size] = load(url, world, size, plants)
            loaded[size].scope_rows = ledger_scope(url, world.scraper)
            loaded[size].first_s = first_run(url, subject)
            print(
                f"  loaded in {loaded[size].steps['total']:.0f} s ({loaded[size].entries:,}"
                f" entries); first affected_set {loaded[size].first_s * 1e3:.0f} ms",
                flush=True,
            )
        info = database_machine(urls[sizes[0]], SETTINGS, ("psycopg",), memory=True)
        info["load average (1/5/15 min)"] = f"{load_before} at the start"
        load_measuring = load_average()
        timings = measure(urls, subject, args.runs)
        info["load average (1/5/15 min)"] += f", {load_measuring} when the timing began"
    info["load average (1/5/15 min)"] += f", {load_average()} at the end"
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    print(render_console(loaded, timings))
    _cli.publish(
        args,
        SECTION,
        lambda: render_section(loaded, timings, info, args.runs, command, path),
        "audit",
        lambda: figures(timings),
        info,
    )
    return 0


if __name__ == "__main__":
    _cli.run(main, "the databases were dropped")
