"""Projection rebuild vs a raw keyset read of the same log: `make bench-rebuild` (issue #9).

Fills booking's log in a throwaway database with a booking platform's mix — slots opened,
held, appointments booked, some rescheduled or cancelled, and access records (most of the
log, and its largest rows) — then, in turn for each run: walks the whole log with a raw keyset
read (position order, every column, the payloads detoasted) and runs `carnet replay rebuild
booking.views` from position 0 through its swap. Ratio = rebuild events/s ÷ raw read events/s
over the same log (target ≥ 1). Both sides are timed in the same run; medians of --runs.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)

import psycopg

from contracts.registry import REGISTRY
from scripts.bench._docs import write_section
from scripts.bench._env import Servers, bench_env, machine_info
from scripts.bench._figures import Figure, write_json
from scripts.bench._read import raw_step
from services.booking.readmodels_projection import PROJECTION
from services.ops.rebuild import Rebuild

HEADING = "## Projection rebuild vs raw keyset read"
T0 = datetime(2031, 1, 6, 8, 0, tzinfo=UTC)


def _event(stream: str, version: int, kind: str, data: dict[str, Any], at: datetime) -> tuple:
    meta = {"correlation_id": str(uuid.uuid4()), "occurred_at": at.isoformat()}
    return (stream, version, uuid.uuid4(), kind, REGISTRY.latest_version(kind),
            json.dumps(data), json.dumps(meta))  # fmt: skip


def _access(rng: random.Random, page: list[dict[str, str]]) -> dict[str, Any]:
    """An AppointmentsAccessed V2 record of a search page, shaped as booking records it."""
    return {
        "access_id": str(uuid.uuid4()), "principal_kind": "connector",
        "principal_id": str(uuid.uuid4()), "connector_id": str(uuid.uuid4()),
        "network_address": "198.51.100.7", "user_agent": "AgendaSync/4.2",
        "request_id": f"req-{rng.randrange(10**9)}", "operation": "search",
        "query": "practitioner=…&date=ge2031-01-06", "purpose": "agenda_sync",
        "appointment_ids": [e["appointment_id"] for e in page],
        "patient_ids": [e["patient_id"] for e in page],
        "practitioner_ids": sorted({e["practitioner_id"] for e in page}),
        "entries": page, "field_classes": ["administrative", "sensitive"],
        "medical_decrypted": False, "result_count": len(page), "outcome": "success",
        "denial_reason": None,
    }  # fmt: skip


def log_of(appointments: int, reads_per_appointment: float, seed: int = 9) -> list[tuple]:
    """The events, in the order a platform would append them."""
    rng, events, booked = random.Random(seed), [], []
    practitioners = [str(uuid.uuid4()) for _ in range(max(1, appointments // 500))]
    for n in range(0, appointments, 10):
        practitioner, schedule = rng.choice(practitioners), str(uuid.uuid4())
        start = T0 + timedelta(minutes=20 * n)
        slots = [{"slot_id": str(uuid.uuid4()), "start": (start + timedelta(minutes=20 * k))
                  .isoformat(), "end": (start + timedelta(minutes=20 * k + 20)).isoformat()}
                 for k in range(10)]  # fmt: skip
        opened = {"schedule_id": schedule, "practitioner_id": practitioner,
                  "service_type": "consultation", "slots": slots}  # fmt: skip
        events.append(_event(f"agenda-{practitioner}-{n}", 1, "SlotsOpened", opened, start))
        for s in slots[: min(10, appointments - n)]:
            appointment, patient = str(uuid.uuid4()), str(uuid.uuid4())
            held = {"slot_id": s["slot_id"], "appointment_id": appointment}
            book = {"appointment_id": appointment, "slot_id": s["slot_id"],
                    "practitioner_id": practitioner, "patient_id": patient, "start": s["start"],
                    "end": s["end"], "service_type": "consultation", "reason": None,
                    "booked_by": patient, "connector_id": None}  # fmt: skip
            events.append(_event(f"slot-{s['slot_id']}", 1, "SlotHeld", held, start))
            events.append(_event(f"appointment-{appointment}", 1, "AppointmentBooked", book, start))
            if rng.random() < 0.1:
                cancel = {"appointment_id": appointment, "note": None, "cancelled_by": patient}
                events.append(
                    _event(f"appointment-{appointment}", 2, "AppointmentCancelled", cancel, start)
                )
                events.append(_event(f"slot-{s['slot_id']}", 2, "SlotReleased", held, start))
            booked.append({"appointment_id": appointment, "patient_id": patient,
                           "practitioner_id": practitioner})  # fmt: skip
        # Agenda syncs: each reads a page of 20 recent appointments, so with the default of
        # one record per appointment booked, each appointment is read about 20 times.
        for _ in range(round(reads_per_appointment * 10) if len(booked) >= 20 else 0):
            page = rng.sample(booked[-200:], 20)
            stream = f"access-{uuid.uuid4()}"
            events.append(_event(stream, 1, "AppointmentsAccessed", _access(rng, page), start))
    return events


def fill(database_url: str, events: list[tuple], per_transaction: int = 500) -> None:
    """COPY the log into booking.events, a few hundred events per transaction like a platform."""
    columns = "stream_id, stream_version, event_id, event_type, schema_version, data, metadata"
    with psycopg.connect(database_url) as conn:
        for i in range(0, len(events), per_transaction):
            with conn.cursor().copy(f"COPY booking.events ({columns}) FROM STDIN") as copy:
                for row in events[i : i + per_transaction]:
                    copy.write_row(row)
            conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) booking.events")


def raw_read(database_url: str) -> tuple[int, float]:
    """Every event, keyset-paged by position, every column: (events, seconds)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        step, seen, started = raw_step(conn, "booking"), 0, time.monotonic()
        while n := step():
            seen += n
        return seen, time.monotonic() - started


def rebuild(database_url: str) -> tuple[int, float, float]:
    """carnet replay rebuild booking.views from 0: (events scanned, seconds, lock seconds)."""
    outcome = Rebuild(lambda: psycopg.connect(database_url), PROJECTION).run(restart=True)
    assert outcome.swapped
    return outcome.scanned, outcome.seconds, outcome.lock_seconds


def main(argv: list[str] | None = None) -> int:
    """Fill, measure --runs rounds of both sides, print; with --write-docs, update the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=40_000)
    parser.add_argument("--reads-per-appointment", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None, help="figures for all.py, as JSON")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda s, _f: (_ for _ in ()).throw(KeyboardInterrupt(s)))
    with bench_env(Servers()) as env:
        events = log_of(args.appointments, args.reads_per_appointment)
        fill(env.database_url, events)
        kinds: dict[str, int] = {}
        for e in events:
            kinds[e[3]] = kinds.get(e[3], 0) + 1
        with psycopg.connect(env.database_url) as conn:
            size = conn.execute("SELECT pg_total_relation_size('booking.events')").fetchone()[0]
        raw_rates, rebuild_rates, locks = [], [], []
        for run in range(args.runs):
            first, second = (raw_read, rebuild) if run % 2 == 0 else (rebuild, raw_read)
            for side in (first, second):
                result = side(env.database_url)
                assert result[0] == len(events), f"{side.__name__} saw {result[0]} events"
                (raw_rates if side is raw_read else rebuild_rates).append(result[0] / result[1])
                if side is rebuild:
                    locks.append(result[2])
        with psycopg.connect(env.database_url) as conn:
            rows = conn.execute("SELECT count(*) FROM booking.appointments").fetchone()[0]
        info = machine_info(env)
    text = report(args.runs, info, kinds, size, raw_rates, rebuild_rates, locks, rows)
    print(text)
    if args.write_docs:
        write_section(args.docs, HEADING, text)
    if args.json is not None:
        write_json(args.json, "rebuild", [figure(raw_rates, rebuild_rates, len(events))], info)
    return 0


def figure(raw_rates: list[float], rebuild_rates: list[float], events: int) -> Figure:
    """The summary's row: rebuild events/s against the raw read's, the section's ratio."""
    raw, built = statistics.median(raw_rates), statistics.median(rebuild_rates)
    ratio = built / raw
    note = ""
    if ratio < 1:
        note = (
            "The rebuild folds each batch of 2,000 events in a few set-based statements and"
            " commits it with its cursor; beyond the read, what it pays is client time on the"
            " folded events: psycopg decoding each payload into a dict, then JSON-encoding the"
            " batch's rows again for `jsonb_to_recordset`. What would close it: fold the"
            " inserts server-side (INSERT … SELECT from the log), which removes both."
        )
    return Figure(
        key="rebuild",
        label=f"projection rebuild, booking.views ({events:,} events)",
        unit="events/s",
        value=built,
        baseline=raw,
        baseline_label="raw keyset read of the same log",
        ratio=ratio,
        target=1.0,
        runs=[b / r for b, r in zip(rebuild_rates, raw_rates, strict=True)],
        section=HEADING,
        note=note,
        profile={
            "argv": ["scripts/bench/rebuild.py", "--appointments", "10000", "--runs", "3"],
            "focus": r"Rebuild\.run ",
        },
    )


def report(
    runs: int,
    info: dict[str, str],
    kinds: dict[str, int],
    size: int,
    raw_rates: list[float],
    rebuild_rates: list[float],
    locks: list[float],
    rows: int,
) -> str:
    """The docs/benchmarks.md section of this run, from its figures only."""
    raw, built = statistics.median(raw_rates), statistics.median(rebuild_rates)
    ratio = built / raw
    mix = ", ".join(f"{v:,} {k}" for k, v in sorted(kinds.items()))
    verdict = "met" if ratio >= 1 else "missed"
    return "\n".join([
        HEADING, "",
        "Generated by `make bench-rebuild` (`python scripts/bench/rebuild.py --write-docs`,"
        " issue #9); do not edit by hand. Every figure below was measured in one run of it.", "",
        f"Machine: {info.get('cpu', '?')}, {info.get('nproc', '?')} cores, PostgreSQL"
        f" {info.get('postgresql', '?')}, {info.get('date', '?')}. Log: {sum(kinds.values()):,}"
        f" booking events, {size / 2**20:,.0f} MiB on disk: {mix}.", "",
        f"| side | events/s (median of {runs}) | runs |",
        "|---|---:|---|",
        f"| raw keyset read (position order, all columns) | {raw:,.0f} | {_runs(raw_rates)} |",
        f"| `carnet replay rebuild booking.views` from 0, swap included | {built:,.0f}"
        f" | {_runs(rebuild_rates)} |", "",
        f"**Ratio rebuild / raw read: {ratio:.2f}** (target ≥ 1: {verdict}). The rebuilt views"
        f" hold {rows:,} appointments; the swap held its lock"
        f" {statistics.median(locks) * 1000:.0f} ms (median).", "",
        "The rebuild reads every row's keys but detoasts payloads only for the seven event"
        " types the views fold (`EventLogSource`); most of the log's bytes are access records,"
        " which the raw read detoasts. It folds a batch of 2,000 events in a few set-based"
        " statements (`services/booking/readmodels_fold.py`) and commits it with its cursor. Where"
        " it falls short of the raw read, the rest is client time on the folded events: psycopg"
        " decoding each payload into a dict, and JSON-encoding the batch's rows again for"
        " `jsonb_to_recordset`; folding the inserts server-side (INSERT … SELECT from the log)"
        " would remove both.", "",
    ])  # fmt: skip


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
