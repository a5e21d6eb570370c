"""The read steps in e2e_load.py's figures and section: per page size, the highest rate of
recorded page reads held and CPU per page by process group, with how they were measured."""

from __future__ import annotations

from scripts.bench._cpu import GROUPS
from scripts.bench._e2e_held import MAX_ERRORS, MIN_ACHIEVED
from scripts.bench._e2e_reads import ReadPhase, ReadStep
from scripts.bench._e2e_report import SECTION, med
from scripts.bench._e2e_search import best_rate
from scripts.bench._e2e_step import THREADS
from scripts.bench._e2e_world import PARTNER_QUOTA, PARTNER_TRUST
from scripts.bench._figures import Figure

HEADING = "### Recorded connector page reads"


def _where(phase: ReadPhase) -> str:
    """The rate the reported steps ran at, in words."""
    best = best_rate(phase.found)
    return f"at {best:.0f} pages/s (the highest held)" if best else f"at {phase.start:.0f}/s"


def read_figures(phases: list[ReadPhase]) -> list[Figure]:
    """Per page size: the highest page rate held (if any), and CPU per page read where the
    figures come from (the best rate held, else the start rate)."""
    out = []
    for p in phases:
        best, steps = best_rate(p.found), p.reported
        if best is not None:
            out.append(Figure(
                f"e2e.read_max_rate_{p.count}",
                f"highest rate of recorded page reads of {p.count} held (every access record"
                " ledgered and indexed)", "pages/s", best,
                runs=[s.achieved for s in steps], section=SECTION,
            ))  # fmt: skip
        out.append(Figure(
            f"e2e.cpu_per_read_{p.count}",
            f"CPU per page read of {p.count}, whole machine, {_where(p)}", "ms",
            med(steps, lambda s: s.cpu_ms_per_read()),
            runs=[s.cpu_ms_per_read() for s in steps], section=SECTION,
        ))  # fmt: skip
    return out


def _held(step: ReadStep) -> str:
    why = step.verdict()
    return "yes" if not why else "no: " + "; ".join(why)


def _steps_table(p: ReadPhase) -> list[str]:
    """Every step of one page size, in the order run: the start, the search, confirmations."""
    steps = p.base + p.found.steps + ([] if p.found.confirm is p.base else p.found.confirm)
    return [
        "| rate offered | answered/s | per page | HTTP p50 / p99 ms | → ledger p99 ms |"
        " relay lag max | consumer lag max s | drain s | CPU ms per page | held? |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *[
            f"| {s.rate:,.0f} | {s.achieved:,.1f} | {s.served():,.0f} |"
            f" {s.http_ms(50):,.0f} / {s.http_ms(99):,.0f} | {s.to_ledger_ms(99):,.0f} |"
            f" {s.worst('relay_events'):,.0f} | {s.worst('consumer_seconds'):,.2f} |"
            f" {s.drain_s:,.1f} | {s.cpu_ms_per_read():,.2f} | {_held(s)} |"
            for s in steps
        ],
    ]


def _sentence(p: ReadPhase) -> str:
    """What the search concluded for one page size."""
    found, best = p.found, best_rate(p.found)
    held = sum(not s.verdict() for s in found.confirm)
    if best is not None:
        served = med(found.confirm, lambda s: s.served())
        failed = any(s.verdict() for s in p.base + found.steps)
        ceiling = "" if failed else " No rate tried failed: the search ran out of steps first."
        return (f"**Pages of {p.count}: highest rate held {best:,.0f} pages/s**"
                f" (about {best * served:,.0f} appointments/s, {served:,.0f} a page; held in"
                f" {held} of {len(found.confirm)} confirmation runs).{ceiling}")  # fmt: skip
    if found.candidate is not None:
        return (f"Pages of {p.count}: the best rate held in the search, {found.candidate:,.0f}/s,"
                f" held in only {held} of {len(found.confirm)} confirmation runs: no rate is"
                " reported as held.")  # fmt: skip
    return f"Pages of {p.count}: no rate tried was held."


def _cpu_table(phases: list[ReadPhase]) -> list[str]:
    """CPU ms per page answered, per process group and page size (medians of the reported)."""
    out = [
        "| CPU per page read, ms (step and drain) | "
        + " | ".join(f"pages of {p.count}, {_where(p)}" for p in phases)
        + " |",
        "|---|" + "---:|" * len(phases),
    ]
    for g in GROUPS:
        cells = [f"{med(p.reported, lambda s, g=g: s.cpu_ms_per_read(g)):,.2f}" for p in phases]
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    cells = [f"{med(p.reported, lambda s: s.cpu_ms_per_read()):,.2f}" for p in phases]
    out.append("| **all** | " + " | ".join(f"**{c}**" for c in cells) + " |")
    return out


def read_section(phases: list[ReadPhase], sizes: dict, runs: int) -> list[str]:
    """The section's part on page reads: how, then per page size its steps, then CPU."""
    if not phases:
        return [HEADING, "", "Not run (`--no-reads`).", ""]
    starts = " and ".join(f"{p.start:.0f}/s for pages of {p.count}" for p in phases)
    out = [
        HEADING,
        "",
        "Measured by the same script (`python scripts/bench/e2e_load.py`), after the booking"
        " search, on the appointments it booked, nothing booked meanwhile. A partner connector"
        " (`appointment:read` on every agenda) reads the first page of coming appointments of"
        " each agenda in turn (`GET /fhir/Appointment?practitioner=…&date=ge<today>&_count=10`,"
        f" or 100), open loop from {THREADS} threads, a fresh token each step. Each page is"
        " recorded by booking before it is answered (`AppointmentsAccessed`) and names its"
        " record (`X-Carnet-Access-Id`); after the step and its drain the bench reads audit"
        " for every one of them, in the ledger and in the access index. A rate is held as a"
        f" booking rate is (at least {MIN_ACHIEVED:.0%} answered 200, at most {MAX_ERRORS:.1%}"
        " failed, none of read → ledger latency, page latency, relay lag and consumer lag"
        " growing), and only when every page's access record was ledgered **and indexed**"
        " within the drain (180 s); a step not held says which check failed. The search starts"
        f" at {starts}, runs one step there, then as for bookings ({sizes['read_steps']} steps at"
        f" most, then {runs} confirmation runs); steps last {sizes['step_s']} s. CPU per page"
        " is the process groups' CPU over the step and its drain divided by the pages answered.",
        "",
        "Two settings differ from the product defaults, for this connector only. Its quota is"
        f" set through the admin API to {PARTNER_QUOTA['per_hour']:,} appointments an hour,"
        f" burst {PARTNER_QUOTA['burst']:,} (the highest an operator can set; the default"
        " 20,000/500 serves about 5 appointments a second), so no step waits on it; the bucket"
        " is still one row every page updates. And an operator trusted it"
        f" (`POST /v1/connectors/{{id}}/trust`, {PARTNER_TRUST['hours']} h), as for a planned"
        " full re-read: hundreds of pages a second from a few agendas re-read unchanged"
        " appointments, which no sync explains and D1 would suspend within a minute. Trust"
        " changes only what follows a finding (a review, no throttle or suspension); detection"
        " still judges every record, and re-reads make it read its windows, which an honest"
        " partner's first reads and deltas do not: audit's share below is the costlier case.",
        "",
    ]
    for p in phases:
        out += [f"Pages of {p.count}:", "", *_steps_table(p), "", _sentence(p), ""]
    return [*out, *_cpu_table(phases), ""]
