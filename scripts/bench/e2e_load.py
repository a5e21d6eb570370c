"""End to end under load (issue #11, item 6): the four services, a load generator, the ledger.

Starts identity, booking, notification and audit as `carnet up` does, on a throwaway database
and vhost; seeds people, two connectors and free slots through the public APIs; then books
at a fixed rate (open loop) while the connector reads, `--runs` times; searches for the highest
rate held without growing lag; searches likewise for the highest rate of recorded connector
page reads (pages of 10 and of 100) held with every access record ledgered and indexed; plays
the incident (a scraper until suspension) under the fixed rate. Figures: booking latency,
booking-to-ledger latency, relay and consumer lag, CPU per booking and per page read, the time
from the first malicious read to suspension.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

from scripts.bench import _cli, _profile
from scripts.bench._docs import write_section
from scripts.bench._e2e_incident import Incident, incident
from scripts.bench._e2e_reads import ReadPhase, ReadStep, run_read_step
from scripts.bench._e2e_reads_report import read_figures
from scripts.bench._e2e_report import SECTION, figures
from scripts.bench._e2e_search import Search, best_rate, held_mostly, search
from scripts.bench._e2e_section import render_section
from scripts.bench._e2e_step import StepResult, run_step
from scripts.bench._e2e_watch import drain
from scripts.bench._e2e_world import World, open_slots, seed
from scripts.bench._env import Servers, bench_env, load_average, machine_info
from scripts.bench._figures import write_json
from scripts.bench._system import System, running_system
from services.cli.demo.client import Platform

SIZES = {  # default: ~30 minutes on 2 cores (10-15 of them page reads); quick: every path
    "default": {"practitioners": 20, "patients": 300, "rate": 100, "base_s": 60, "step_s": 30,
                "read_rate": 2, "max_steps": 7, "attack_s": 60, "warmup_s": 10, "profile_s": 20,
                "page_rates": {10: 100, 100: 50}, "read_steps": 5},
    "quick": {"practitioners": 6, "patients": 60, "rate": 20, "base_s": 10, "step_s": 8,
              "read_rate": 1, "max_steps": 3, "attack_s": 30, "warmup_s": 3, "profile_s": 5,
              "page_rates": {10: 20, 100: 10}, "read_steps": 2},
}  # fmt: skip
SPARE = 1.1  # slots opened per booking planned


def _say(text: str) -> None:
    print(text, flush=True)


def _step(
    system: System, platform: Platform, world: World, rate: float, seconds: float, sizes: dict
) -> StepResult:
    """Open the slots it needs and let that settle, then one measured step."""
    open_slots(platform, world, int(rate * seconds * SPARE) + 50)
    drain(system, 180)
    result = run_step(system, world, rate, seconds, sizes["read_rate"])
    why = result.verdict()
    _say(
        f"  {rate:>5.0f}/s for {seconds:.0f} s: answered {result.achieved:,.0f}/s, HTTP p50/p99"
        f" {result.http_ms(50):,.0f}/{result.http_ms(99):,.0f} ms, to ledger p50/p99"
        f" {result.to_ledger_ms(50):,.0f}/{result.to_ledger_ms(99):,.0f} ms, relay lag max"
        f" {result.worst('relay_events'):,.0f} events, oldest writing transaction p99/max"
        f" {result.oldest_xact_ms(99):,.0f}/{result.oldest_xact_ms(100):,.0f} ms, CPU"
        f" {result.cpu_ms_per_booking():,.1f} ms per booking; "
        + ("held" if not why else "NOT held: " + "; ".join(why))
    )
    return result


def _read_step(
    system: System, platform: Platform, world: World, rate: float, count: int, sizes: dict
) -> ReadStep:
    """One measured read step, nothing booked meanwhile, and its line."""
    drain(system, 180)
    step = run_read_step(system, platform, world, rate, sizes["step_s"], count)
    why = step.verdict()
    _say(
        f"  {rate:>5.0f} pages/s of {count}: answered {step.achieved:,.0f}/s ({step.served():,.0f}"
        f" per page), HTTP p50/p99 {step.http_ms(50):,.0f}/{step.http_ms(99):,.0f} ms, to"
        f" ledger p99 {step.to_ledger_ms(99):,.0f} ms, relay lag max"
        f" {step.worst('relay_events'):,.0f} events, drain {step.drain_s:,.1f} s, CPU"
        f" {step.cpu_ms_per_read():,.1f} ms per page; "
        + ("held" if not why else "NOT held: " + "; ".join(why))
    )
    return step


def read_phases(
    system: System, platform: Platform, world: World, sizes: dict, runs: int
) -> list[ReadPhase]:
    """For pages of 10 and of 100: a step at the start rate, then the highest rate held."""
    out = []
    for count, start in sizes["page_rates"].items():
        _say(f"connector page reads of {count}: from {start}/s")

        def measure(rate: float, count: int = count) -> ReadStep:
            return _read_step(system, platform, world, rate, count, sizes)

        base = [measure(start)]
        found = search(measure, start, base, sizes["read_steps"], runs, _say)
        out.append(ReadPhase(count, start, base, found))
    return out


def profile_services(
    system: System, platform: Platform, world: World, sizes: dict, out: Path
) -> None:
    """py-spy on every service while booking at the fixed rate; a text summary per service."""
    open_slots(platform, world, int(sizes["rate"] * (sizes["profile_s"] + 5) * SPARE) + 50)
    drain(system, 180)
    recorded: dict[str, Path] = {}
    spy = threading.Thread(
        target=lambda: recorded.update(
            _profile.record_pids(system.pids, sizes["profile_s"], out.parent)
        )
    )
    spy.start()
    run_step(system, world, sizes["rate"], sizes["profile_s"] + 3, sizes["read_rate"])
    spy.join()
    lines = [
        f"Each service sampled by py-spy for {sizes['profile_s']} s while booking at"
        f" {sizes['rate']}/s (a run apart from the measured ones).",
        "",
    ]
    for name, path in sorted(recorded.items()):
        summary = _profile.summarise([path], None)
        lines += [f"**{name}** ({summary.total:,} samples)", ""]
        lines += _profile.render(summary, None, f"the {name} service", top=15)
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Start, seed, measure, report; --write-docs and --json for all.py."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small rates and short steps")
    parser.add_argument("--rate", type=float, default=None, help="the fixed rate (default 100)")
    parser.add_argument("--no-search", action="store_true", help="skip the highest-rate search")
    parser.add_argument("--no-reads", action="store_true", help="skip the page-read search")
    parser.add_argument("--profile", type=Path, default=None, help="write a py-spy summary here")
    parser.add_argument("--write-docs", action="store_true", help=f"write '{SECTION}'")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None, help="figures for all.py, as JSON")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3 (a median needs them)")
    sizes = dict(SIZES["quick" if args.quick else "default"])
    if args.rate:
        sizes["rate"] = args.rate
    sizes["cores"] = len(os.sched_getaffinity(0))
    _cli.stop_on_signals()
    started, load_before = time.monotonic(), load_average()
    with (
        tempfile.TemporaryDirectory(prefix="carnet-e2e-") as work,
        bench_env(Servers()) as env,
        running_system(env, Path(work)) as system,
    ):
        _say(f"database and vhost {env.name}; services up; sizes {sizes}")
        info = machine_info(env)
        urls = system.urls
        platform = Platform(urls["identity"], urls["booking"], urls["audit"], system.admin_token)
        t0 = time.monotonic()
        world = seed(platform, env.database_url, sizes["practitioners"], sizes["patients"])
        seeded_s = time.monotonic() - t0
        _say(f"  seeded in {seeded_s:.0f} s; warm-up at {sizes['rate']}/s")
        _step(system, platform, world, sizes["rate"], sizes["warmup_s"], sizes)
        _say(f"fixed rate: {args.runs} runs of {sizes['base_s']} s at {sizes['rate']}/s")
        base = [
            _step(system, platform, world, sizes["rate"], sizes["base_s"], sizes)
            for _ in range(args.runs)
        ]
        base_held = held_mostly(base)
        found: Search[StepResult] = Search()
        if not args.no_search:
            _say("searching for the highest rate held")
            found = search(
                lambda r: _step(system, platform, world, r, sizes["step_s"], sizes),
                sizes["rate"], base, sizes["max_steps"], args.runs, _say,
            )  # fmt: skip
        # Before the incident: its suspended scrapers share the partner's address and vendor.
        reads = [] if args.no_reads else read_phases(system, platform, world, sizes, args.runs)
        # Under the fixed rate when it is held; else under the best rate held, if any.
        sizes["incident_rate"] = float(
            sizes["rate"] if base_held else best_rate(found) or sizes["rate"]
        )
        _say(f"incident: {args.runs} scrapers, booking at {sizes['incident_rate']:.0f}/s meanwhile")
        incidents: list[Incident] = []
        for n in range(args.runs):
            rate = sizes["incident_rate"]
            open_slots(platform, world, int(rate * (sizes["attack_s"] + 60) * SPARE))
            drain(system, 180)
            incidents.append(incident(platform, system, world, rate, sizes["attack_s"], n))
            took = incidents[-1].seconds
            _say(f"  scraper {n + 1}: " + (f"suspended {took:.2f} s after its first read"
                                             if took is not None else "never cut off"))  # fmt: skip
        if args.profile is not None:
            _say("profiling the services at the fixed rate")
            profile_services(system, platform, world, sizes, args.profile)
    info["load average (1/5/15 min)"] = f"{load_before} before, {load_average()} after"
    info["duration"] = f"{time.monotonic() - started:.0f} s (seeding {seeded_s:.0f} s)"
    text = render_section(base, found, reads, incidents, info, sizes, args.runs)
    print(text)
    if args.write_docs:
        write_section(args.docs, SECTION, text)
        _say(f"wrote '{SECTION}' in {args.docs}")
    if args.json is not None:
        out = figures(base, found, incidents, sizes, args.profile) + read_figures(reads)
        write_json(args.json, "e2e", out, info)
    return 0


if __name__ == "__main__":
    _cli.run(main, "services stopped, database and vhost removed")
