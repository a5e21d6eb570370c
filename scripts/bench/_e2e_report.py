"""e2e_load.py's figures and docs section, from its measured steps and incidents only."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scripts.bench._cpu import GROUPS
from scripts.bench._e2e_step import (
    GROWTH_LIMIT_S,
    LATE_LIMIT_S,
    MAX_ERRORS,
    MIN_ACHIEVED,
    READ_COUNT,
    THREADS,
)
from scripts.bench._e2e_step import StepResult as Step
from scripts.bench._e2e_world import SLOT_MINUTES
from scripts.bench._figures import Figure
from scripts.bench._load import percentile

SECTION = "## End to end under load"
TARGET_MS = 250.0  # issue #11: booking-to-ledger p99 at 100 bookings/s


@dataclass
class Search:
    """The highest-rate search: its steps, the best rate held, its confirmation runs."""

    steps: list[Step] = field(default_factory=list)
    candidate: float | None = None
    confirm: list[Step] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        """Held in most confirmation runs."""
        return sum(not s.verdict() for s in self.confirm) * 2 > len(self.confirm)


def _med(steps: list[Step], f: Callable[[Step], float]) -> float:
    values = [v for s in steps if not math.isnan(v := f(s))]
    return statistics.median(values) if values else math.nan


def _runs(steps: list[Step], f: Callable[[Step], float], fmt: str = ",.0f") -> str:
    return ", ".join(format(f(s), fmt) for s in steps)


ROWS: list[tuple[str, Callable[[Step], float], str]] = [
    ("bookings answered 201 per second", lambda s: s.achieved, ",.1f"),
    ("booking latency p50, HTTP, ms (from when due)", lambda s: s.http_ms(50), ",.0f"),
    ("booking latency p99, HTTP, ms", lambda s: s.http_ms(99), ",.0f"),
    ("booking → ledger p50, ms (ledger recorded_at - event occurred_at)",
     lambda s: s.to_ledger_ms(50), ",.0f"),
    ("booking → ledger p99, ms", lambda s: s.to_ledger_ms(99), ",.0f"),
    ("  of which in booking, p99, ms (occurred_at → booking's commit)",
     lambda s: s.in_booking_ms(99), ",.0f"),
    ("  of which commit → ledger, p99, ms (relay, broker, audit)",
     lambda s: s.commit_to_ledger_ms(99), ",.0f"),
    ("ledger recorded_at - 201 received, p50, ms", lambda s: s.after_response_ms(50), ",.0f"),
    ("ledger recorded_at - 201 received, p99, ms", lambda s: s.after_response_ms(99), ",.0f"),
    ("relay lag, max, events", lambda s: s.worst("relay_events"), ",.0f"),
    ("relay lag, max, s", lambda s: s.worst("relay_seconds"), ",.2f"),
    ("consumer lag, max, s", lambda s: s.worst("consumer_seconds"), ",.2f"),
    ("messages waiting in consumer queues, max", lambda s: s.worst("queued"), ",.0f"),
    ("drain after the step, s", lambda s: s.drain_s, ",.1f"),
    ("connector reads p50, ms", lambda s: percentile([c.latency for c in s.reads], 50) * 1e3,
     ",.0f"),
    ("connector reads p99, ms", lambda s: percentile([c.latency for c in s.reads], 99) * 1e3,
     ",.0f"),
    ("connector reads refused or failed", lambda s: sum(c.status != 200 for c in s.reads), ",.0f"),
]  # fmt: skip


def _held(step: Step) -> str:
    why = step.verdict()
    return "yes" if not why else "no: " + "; ".join(why)


def best_rate(found: Search) -> float | None:
    """The highest rate held and confirmed, else None."""
    return found.candidate if found.candidate and found.confirmed else None


def figures(
    base: list[Step],
    found: Search,
    incidents: list,
    sizes: dict,
    profile: Path | None,
) -> list[Figure]:
    """The summary's rows: latencies and lags at the fixed rate, the best rate, suspension."""
    rate = sizes["rate"]
    at = f"at {rate:.0f} bookings/s"
    spec = {"summary": str(profile)} if profile else None
    p99 = _med(base, lambda s: s.to_ledger_ms(99))
    out = [
        Figure("e2e.http_p50", f"booking latency p50 (HTTP) {at}", "ms",
               _med(base, lambda s: s.http_ms(50)), runs=[s.http_ms(50) for s in base],
               section=SECTION),
        Figure("e2e.http_p99", f"booking latency p99 (HTTP) {at}", "ms",
               _med(base, lambda s: s.http_ms(99)), runs=[s.http_ms(99) for s in base],
               section=SECTION),
        Figure("e2e.ledger_p50", f"booking → ledger p50 {at}", "ms",
               _med(base, lambda s: s.to_ledger_ms(50)),
               runs=[s.to_ledger_ms(50) for s in base], section=SECTION),
        Figure("e2e.ledger_p99", f"booking → ledger p99 {at}", "ms", p99, target=TARGET_MS,
               op="<=", target_on="value", runs=[s.to_ledger_ms(99) for s in base],
               section=SECTION, note=_ledger_note(base, sizes) if p99 > TARGET_MS else "",
               profile=spec),
        Figure("e2e.cpu_per_booking", f"CPU per booking, whole machine, {at}", "ms",
               _med(base, lambda s: s.cpu_ms_per_booking()),
               runs=[s.cpu_ms_per_booking() for s in base], section=SECTION),
        Figure("e2e.relay_lag", f"relay lag, max over the run {at}", "events",
               _med(base, lambda s: s.worst("relay_events")),
               runs=[s.worst("relay_events") for s in base], section=SECTION),
        Figure("e2e.consumer_lag", f"consumer lag, max over the run {at}", "s",
               _med(base, lambda s: s.worst("consumer_seconds")),
               runs=[s.worst("consumer_seconds") for s in base], section=SECTION),
    ]  # fmt: skip
    best = best_rate(found)
    if best is not None:
        out.append(
            Figure(
                "e2e.max_rate",
                "highest booking rate held without growing lag",
                "bookings/s",
                best,
                baseline=float(rate),
                baseline_label="the fixed rate of the issue",
                ratio=best / rate,
                runs=[s.achieved for s in found.confirm],
                section=SECTION,
            )
        )
    times = [i.seconds for i in incidents if i.seconds is not None]
    if times:
        out.append(
            Figure(
                "e2e.suspension",
                f"first malicious read → suspension, booking at {sizes['incident_rate']:.0f}/s",
                "s",
                statistics.median(times),
                runs=times,
                section=SECTION,
            )
        )
    return out


def _ledger_note(base: list[Step], sizes: dict) -> str:
    """Why booking-to-ledger p99 missed its target, from the split the ledger rows give."""
    in_booking = _med(base, lambda s: s.in_booking_ms(99))
    after = _med(base, lambda s: s.commit_to_ledger_ms(99))
    relay = _med(base, lambda s: s.worst("relay_seconds"))
    consumer = _med(base, lambda s: s.worst("consumer_seconds"))
    return _cpu_sentence(base, sizes) + (
        f" At {sizes['rate']:.0f}/s the p99 splits into {in_booking:,.0f} ms inside booking"
        f" (from the command's occurred_at to the commit of its events) and {after:,.0f} ms from"
        " that commit to the ledger row (the relay's poll, read and publish with confirms, the"
        " broker, audit's consumer staging the event and sequencing it under the ledger lock);"
        f" the relay lagged up to {relay:.2f} s and the consumers up to {consumer:.2f} s. On"
        " this 2-core machine the four services, PostgreSQL, RabbitMQ and the load generator"
        " share the cores, so each stage queues behind the others' CPU. What would close it,"
        " to be measured: cores (the services scale out: booking is stateless between"
        " requests and audit's sequencer takes staged rows from every replica, ADR 0010); less"
        " CPU per booking in its largest shares (the CPU table of the section); fewer events per"
        " booking on the ledger's path (each is ledgered, indexed and checked by detection);"
        " the relay publishing as soon as a commit is announced rather than on its poll."
    )


def _cpu_sentence(base: list[Step], sizes: dict) -> str:
    """The ceiling the CPU per booking sets on this machine, from the fixed-rate runs."""
    total = _med(base, lambda s: s.cpu_ms_per_booking())
    if math.isnan(total) or total <= 0:
        return "No CPU figures were taken."
    cores = sizes.get("cores", 1)
    shares = sorted(((_med(base, lambda s, g=g: s.cpu_ms_per_booking(g)), g) for g in GROUPS),
                    reverse=True)  # fmt: skip
    top = ", ".join(f"{g} {ms:,.1f} ms" for ms, g in shares[:3])
    return (
        f"Each booking cost the machine {total:,.1f} ms of CPU in all (largest: {top}), so its"
        f" {cores} cores cannot answer and ledger more than about {cores * 1e3 / total:,.0f}"
        " bookings/s even with no waiting anywhere: the target rate needs"
        f" {sizes['rate'] * total / 1e3:,.1f} cores of CPU."
    )


def _cpu_table(base: list[Step]) -> list[str]:
    """CPU ms per booking answered, per process group: where the machine's cores went."""
    out = [
        "| CPU per booking, ms (step and drain) | median | per run |",
        "|---|---:|---|",
    ]
    for g in GROUPS:
        out.append(
            f"| {g} | {_med(base, lambda s, g=g: s.cpu_ms_per_booking(g)):,.2f}"
            f" | {_runs(base, lambda s, g=g: s.cpu_ms_per_booking(g), ',.2f')} |"
        )
    out.append(
        f"| **all** | {_med(base, lambda s: s.cpu_ms_per_booking()):,.2f}"
        f" | {_runs(base, lambda s: s.cpu_ms_per_booking(), ',.2f')} |"
    )
    return out


def render_section(
    base: list[Step], found: Search, incidents: list, info: dict, sizes: dict, runs: int
) -> str:
    """The docs/benchmarks.md section of one run of e2e_load.py."""
    rate = sizes["rate"]
    out = [
        SECTION,
        "",
        "Generated by `python scripts/bench/e2e_load.py --write-docs` (`make bench`, issue #11"
        " item 6); do not edit by hand. Every figure below was measured in one run of it.",
        "",
        f"Machine: {info.get('cpu', '?')}, {info.get('nproc', '?')} cores, PostgreSQL"
        f" {info.get('postgresql', '?')}, RabbitMQ {info.get('rabbitmq', '?')},"
        f" {info.get('date', '?')}; load average {info.get('load average (1/5/15 min)', '?')};"
        f" {info.get('duration', '?')}.",
        "",
        "Identity, booking, notification and audit run as `carnet up` runs them (one `nameko"
        " run` each, RabbitMQ policies and dead-letter topology applied, a local mail sink),"
        " on a throwaway database and vhost; seeded through the public APIs with"
        f" {sizes['practitioners']} practitioners, {sizes['patients']} patients, an"
        " investigator, a connector with `appointment:read` on a quarter of the agendas, and"
        f" {SLOT_MINUTES}-minute slots opened as needed. Detection uses the demo's thresholds."
        f" The load generator ({THREADS} threads, open loop: each booking is due at a fixed"
        " time and its latency counts from then) books through `POST /fhir/Appointment` as the"
        f" platform admin (`Prefer: return=minimal`), while the connector reads pages of"
        f" {READ_COUNT} of its agendas at {sizes['read_rate']}/s.",
        "",
        f"### At {rate:.0f} bookings/s ({runs} runs of {sizes['base_s']} s; median, then each run)",
        "",
        "| figure | median | per run |",
        "|---|---:|---|",
        *[f"| {label} | {_med(base, f):{fmt}} | {_runs(base, f, fmt)} |" for label, f, fmt in ROWS],
        f"| held (see below) | | {' / '.join(_held(s) for s in base)} |",
        "",
        "Booking → ledger is measured from the ledger's rows: `recorded_at` (the ledger's clock"
        " when the row was sequenced) minus the event's `occurred_at` (booking's clock when it"
        " decided), both on this machine; its split uses booking's own `events.recorded_at`"
        " (the event's insert, just before its commit). The lags are sampled once a second:"
        " relay lag from each service's `carnet_relay_lag_events` / `_seconds`, consumer lag from"
        " `carnet_consumer_lag_seconds` (max over queues), waiting messages from the broker.",
        "",
        *_cpu_table(base),
        "",
        "CPU is read from `/proc` before the step and after its drain: each service's process,"
        " every `postgres` process (the whole cluster), the broker's Erlang processes, this"
        " script (the load generator and its 32 threads) and the rest of the machine's busy"
        " time (`other`), divided by the bookings answered 201. It includes the connector's"
        " reads and the services' timers during the step, as production would.",
        "",
        "### The highest rate held without growing lag",
        "",
        f"A rate is held when at least {MIN_ACHIEVED:.0%} of it is answered 201, at most"
        f" {MAX_ERRORS:.1%} of the bookings fail, every booking reaches the ledger, and none of"
        " booking → ledger latency, booking latency, relay lag and consumer lag grows by more"
        f" than {GROWTH_LIMIT_S:.0f} s from the first third of the step to the last (medians) to"
        f" end above {LATE_LIMIT_S:.0f} s. The"
        f" search goes up by 1.5x from {rate:.0f}/s while held (down while not), bisects once,"
        f" then runs the best rate held {runs} times; steps last {sizes['step_s']} s.",
        "",
        "| rate offered | answered/s | HTTP p99 ms | → ledger p99 ms | relay lag max | consumer"
        " lag max s | held? |",
        "|---:|---:|---:|---:|---:|---:|---|",
        *[
            f"| {s.rate:,.0f} | {s.achieved:,.1f} | {s.http_ms(99):,.0f} |"
            f" {s.to_ledger_ms(99):,.0f} | {s.worst('relay_events'):,.0f} |"
            f" {s.worst('consumer_seconds'):,.2f} | {_held(s)} |"
            for s in found.steps + ([] if found.confirm is base else found.confirm)
        ],
        "",
        _search_sentence(found, found.confirm is base),
        "",
        "### Incident under load",
        "",
        "A new connector granted 2 agendas scrapes them with 4 threads at `_count=100` and"
        " probes 3 agendas outside its grants (the demo's attack, smaller) while booking goes"
        f" on at {sizes['incident_rate']:.0f}/s (the fixed rate if it was held, else the best"
        " rate held); detection suspends it. The time is read from the incident's"
        " report, as `carnet demo` reads it: identity's ConnectorSuspended minus the first read"
        " the ledger holds.",
        "",
        "| scraper | first read → suspension, s | rule | pages read | refused after |",
        "|---:|---:|---|---:|---:|",
        *[
            f"| {n + 1} | {i.seconds:.2f} | {i.rule} | {i.pages} | {i.refused_after} |"
            if i.seconds is not None
            else f"| {n + 1} | not cut off | | {i.pages} | {i.refused_after} |"
            for n, i in enumerate(incidents)
        ],
        "",
    ]
    return "\n".join(out)


def _search_sentence(found: Search, by_base: bool) -> str:
    """What the search concluded, in one sentence."""
    if found.candidate is None:
        if not found.steps:
            return "The search was not run."
        return "No rate tried was held."
    held = sum(not s.verdict() for s in found.confirm)
    if found.confirmed:
        runs = "of the fixed-rate runs above" if by_base else "confirmation runs"
        return (
            f"**Highest rate held: {found.candidate:,.0f} bookings/s** (held in {held} of"
            f" {len(found.confirm)} {runs})."
        )
    return (
        f"The best rate held in the search, {found.candidate:,.0f}/s, held in only {held} of"
        f" {len(found.confirm)} confirmation runs: no rate is reported as held."
    )
