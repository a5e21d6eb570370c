"""Recorded vs unrecorded appointment searches (issue #5): `make bench-booking`.

A search served with its access record committed first (`AccessRecorder`, as the service
runs) against the very same search with recording switched off (`UnrecordedReads`, bench
only), walked in turn over a synthetic agenda seeded through booking's own command path.
The cost floor of one committed record, a bare INSERT + COMMIT, is measured in the same
moments, so the report can say how much of the difference is the commit itself.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # import as scripts.bench.*, like the repo's other packages

import psycopg
import structlog
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from scripts.bench import _cli
from scripts.bench._figures import Figure, write_json
from services.booking import access, api, commands, directory, routes
from services.booking.access import AccessRecorder, UnrecordedReads
from services.booking.context import Ctx, Settings
from services.booking.crypto import KeyRing, MasterKey, generate_master_key_b64
from services.booking.domain import MAX_SLOTS_PER_OPENING
from services.booking.fhir_input import NewAppointment
from services.booking.reach import READ, READ_MEDICAL, Principal
from services.common.eventstore.migrate import ensure_database, migrate
from services.common.eventstore.store import EventStore
from services.common.logging import bind_context, configure_logging

DEFAULTS = {"practitioners": 20, "patients": 2_000, "appointments": 10_000, "searches": 1_000}
TARGET = 1.25  # issue #5: a recorded search costs at most 1.25x the same search unrecorded
PAGES, COUNT = 5, 50  # a walk: the first page and 4 next links, _count=50
REACHED = 5  # practitioners the measured connector reaches
BOOKERS = 4  # threads booking through commands.book while seeding
WARMUP_WALKS = 10
SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = 16  # 09:00 to 17:00 UTC
SPARE_SLOTS = 1.2  # slots opened per booked appointment: the agendas are not all full
DIAG_WALKS = 40
SECTION = "## Booking: recorded reads"
BASE_URL = "http://booking.bench"
SEED = 5  # the issue number: the same agenda every run
REASONS = (
    "persistent cough for three weeks, follow-up of the chest X-ray",
    "renewal of the blood-pressure prescription; headaches since the dose changed",
    "knee pain after a fall, swelling on the inner side",
    "results of the thyroid panel and adjustment of the treatment",
)


# --- the throwaway database --------------------------------------------------------------------


@contextmanager
def bench_database(pg_url: str) -> Iterator[str]:
    """carnet_bench_booking_<random>, migrated; dropped on exit, Ctrl-C and SIGTERM included."""
    name = f"carnet_bench_booking_{secrets.token_hex(4)}"
    url = urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))
    try:
        ensure_database(url)
        migrate(url)
        yield url
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def machine(url: str) -> dict[str, str]:
    """What the figures depend on: cores, server version and its durability settings."""
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = conn.execute(
            "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)"
            " FROM pg_settings WHERE name IN"
            " ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_sync_method')"
        ).fetchone()[0]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "postgresql": version,
        "postgresql settings": settings,
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{p} {metadata.version(p)}"
            for p in ("psycopg", "psycopg-pool", "marshmallow", "structlog")
        ),
    }


def _load() -> str:
    """The load averages: others' work on a shared machine shows here."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


# --- seeding through booking's own code ----------------------------------------------------------


@dataclass
class Agenda:
    """What the seeding made: who, and the days the slots cover."""

    practitioners: list[uuid.UUID]
    first_day: date
    days: int
    booked: int = 0
    with_reason: int = 0


def _intervals(first_day: date, count: int) -> list[tuple[datetime, datetime]]:
    """`count` back-to-back 30-minute slots, 16 a day from 09:00 UTC, from `first_day` on."""
    out = []
    for k in range(count):
        day, n = divmod(k, SLOTS_PER_DAY)
        start = datetime.combine(first_day + timedelta(days=day), datetime.min.time(), UTC)
        start += timedelta(hours=9) + n * SLOT
        out.append((start, start + SLOT))
    return out


def seed(ctx: Ctx, n_practitioners: int, n_patients: int, n_appointments: int) -> Agenda:
    """Directory rows, then slots and bookings through commands.open_slots and commands.book."""
    rng = random.Random(SEED)
    practitioners = [uuid.uuid4() for _ in range(n_practitioners)]
    patients = [uuid.uuid4() for _ in range(n_patients)]
    with ctx.pool.connection() as conn, conn.transaction():
        for i, pid in enumerate(practitioners):
            directory.apply_practitioner(
                conn,
                {
                    "practitioner_id": pid,
                    "given_name": f"Practitioner{i}",
                    "family_name": f"Bench{i}",
                    "specialty": ("cardiology", "dermatology", "general practice")[i % 3],
                },
            )
        for i, pid in enumerate(patients):
            directory.apply_patient(
                conn,
                {
                    "patient_id": pid,
                    "given_name": f"Given{i}",
                    "family_name": f"Family{i}",
                    "birth_date": date(1940, 1, 1) + timedelta(days=rng.randrange(30_000)),
                    "gender": ("female", "male", "other")[i % 3],
                    "email": f"patient{i}@example.org",
                    "phone": f"+3360000{i:04d}",
                    "preferred_language": ("fr", "en")[i % 2],
                },
            )
    admin = Principal(kind="staff", id=uuid.uuid4(), role="admin")
    per = [n_appointments // n_practitioners + (k < n_appointments % n_practitioners)
           for k in range(n_practitioners)]  # fmt: skip
    n_slots = max(1, math.ceil(max(per) * SPARE_SLOTS))
    first_day = datetime.now(UTC).date() + timedelta(days=1)
    intervals = _intervals(first_day, n_slots)
    bookings: list[NewAppointment] = []
    for pid, wanted in zip(practitioners, per, strict=True):
        slots = []
        for at in range(0, len(intervals), MAX_SLOTS_PER_OPENING):
            chunk = intervals[at : at + MAX_SLOTS_PER_OPENING]
            slots += commands.open_slots(ctx, admin, pid, "consultation", chunk)
        for row in rng.sample(slots, wanted):
            reason = rng.choice(REASONS) if rng.random() < 1 / 3 else None
            bookings.append(NewAppointment(row.slot_id, rng.choice(patients), reason, None))
    rng.shuffle(bookings)
    started, done = time.monotonic(), 0
    with ThreadPoolExecutor(BOOKERS) as pool:
        for _ in pool.map(lambda new: commands.book(ctx, admin, new), bookings):
            done += 1
            if done % 2000 == 0:
                rate = done / (time.monotonic() - started)
                print(f"    booked {done:,}/{len(bookings):,} ({rate:,.0f}/s)", flush=True)
    agenda = Agenda(practitioners, first_day, math.ceil(n_slots / SLOTS_PER_DAY))
    with ctx.pool.connection() as conn:
        agenda.booked, agenda.with_reason = conn.execute(
            "SELECT count(*), count(reason) FROM booking.appointments"
        ).fetchone()
        conn.execute("ANALYZE")
    return agenda


# --- the measured searches ----------------------------------------------------------------------


class TimedRecorder(AccessRecorder):
    """AccessRecorder, plus the time of each record() (two clock reads per search)."""

    def __init__(self, store: EventStore) -> None:
        super().__init__(store)
        self.ns: list[int] = []

    def record(self, *args: Any, **kwargs: Any) -> uuid.UUID:
        """The real record, timed."""
        t0 = time.perf_counter_ns()
        try:
            return super().record(*args, **kwargs)
        finally:
            self.ns.append(time.perf_counter_ns() - t0)


def first_queries(agenda: Agenda, reached: list[uuid.UUID], walks: int) -> list[str]:
    """Each walk's first query string: one reached practitioner and a date window."""
    window = max(1, agenda.days - 6)
    out = []
    for w in range(walks):
        lo = agenda.first_day + timedelta(days=w % 7)
        params = [
            ("practitioner", f"Practitioner/{reached[w % len(reached)]}"),
            ("date", f"ge{lo.isoformat()}"),
            ("date", f"lt{(lo + timedelta(days=window)).isoformat()}"),
            ("_count", str(COUNT)),
        ]
        out.append(urlencode(params))
    return out


def walk(ctx: Ctx, p: Principal, query: str) -> tuple[list[int], int]:
    """Up to PAGES searches following the next links; ns per search and appointments served.

    One search is what BookingService._serve runs once the caller is authenticated: the
    route (parse, search, build, record, bundle) and the JSON body; not HTTP, not identity.
    """
    times, served = [], 0
    for _ in range(PAGES):
        req = api.Request(
            method="GET",
            path="/fhir/Appointment",
            query_string=query,
            headers={"User-Agent": "carnet-bench/1.0", "Accept": "application/fhir+json"},
            body=b"",
            remote_addr="10.0.0.7",
            request_id=str(uuid.uuid4()),
            base_url=BASE_URL,
        )
        structlog.contextvars.clear_contextvars()
        t0 = time.perf_counter_ns()
        bind_context(request_id=req.request_id, principal_kind=p.kind, principal_id=str(p.id))
        response = api.respond(req, lambda r=req: routes.search_appointments(ctx, r, p))
        body = json.dumps(response.body)
        times.append(time.perf_counter_ns() - t0)
        if response.status != 200:
            raise RuntimeError(f"search answered {response.status}: {body[:300]}")
        served += len(response.body.get("entry", ()))
        nxt = [x["url"] for x in response.body["link"] if x["relation"] == "next"]
        if not nxt:
            break
        query = urlsplit(nxt[0]).query
    return times, served


@dataclass
class Side:
    """One side's per-search latencies (ns)."""

    ns: list[int] = field(default_factory=list)
    served: int = 0

    def median_ms(self) -> float:
        """Median latency of one search."""
        return statistics.median(self.ns) / 1e6

    def p95_ms(self) -> float:
        """95th percentile (nearest rank)."""
        ordered = sorted(self.ns)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] / 1e6

    def rate(self) -> float:
        """Searches per second, one client searching back to back."""
        return len(self.ns) / (sum(self.ns) / 1e9)


@dataclass
class Scenario:
    """One principal's traced and untraced sides, the record() times, the raw floors."""

    label: str
    traced: Side = field(default_factory=Side)
    untraced: Side = field(default_factory=Side)
    record_ns: list[int] = field(default_factory=list)
    floor: Side = field(default_factory=Side)  # INSERT + COMMIT of one uuid row
    floor_json: Side = field(default_factory=Side)  # the same with a record's JSON

    def ratio(self) -> float:
        """traced / untraced, medians of the latency per search."""
        return self.traced.median_ms() / self.untraced.median_ms()

    def p95_ratio(self) -> float:
        """traced / untraced, p95 latency."""
        return self.traced.p95_ms() / self.untraced.p95_ms()

    def rate_ratio(self) -> float:
        """untraced searches/s over traced searches/s (the same direction as the others)."""
        return self.untraced.rate() / self.traced.rate()


class Floor:
    """The cost floor of one committed record: one row INSERTed, in autocommit (its COMMIT)."""

    def __init__(self, url: str, record_json: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            "CREATE TABLE bench_scratch (id uuid PRIMARY KEY, data jsonb,"
            " at timestamptz NOT NULL DEFAULT now())"
        )
        self.record_json = record_json

    def insert(self, with_json: bool) -> int:
        """ns for one INSERT + COMMIT (one round trip, one WAL flush)."""
        data = Jsonb(json.loads(self.record_json)) if with_json else None
        t0 = time.perf_counter_ns()
        self.conn.execute(
            "INSERT INTO bench_scratch (id, data) VALUES (%s, %s)", (uuid.uuid4(), data)
        )
        return time.perf_counter_ns() - t0

    def close(self) -> None:
        """Close the floor's connection."""
        self.conn.close()


def measure(
    label: str,
    traced: Ctx,
    untraced: Ctx,
    p: Principal,
    queries: list[str],
    floor: Floor,
) -> Scenario:
    """Each walk on both sides in turn (which goes first alternates), then the floors."""
    recorder = traced.recorder
    assert isinstance(recorder, TimedRecorder)
    for q in queries[:WARMUP_WALKS]:  # untimed: plans, pools, caches, the keys' rows
        walk(traced, p, q)
        walk(untraced, p, q)
    recorder.ns.clear()
    s = Scenario(label)
    sides = [(traced, s.traced), (untraced, s.untraced)]
    for w, q in enumerate(queries):
        for ctx, side in sides if w % 2 == 0 else sides[::-1]:
            ns, served = walk(ctx, p, q)
            side.ns += ns
            side.served += served
        for _ in range(PAGES):  # the floor in the same moments, as many as searches
            s.floor.ns.append(floor.insert(with_json=False))
            s.floor_json.ns.append(floor.insert(with_json=True))
    s.record_ns = list(recorder.ns)
    assert len(s.record_ns) == len(s.traced.ns), "a traced search without its record"
    assert s.traced.served == s.untraced.served, "the two sides did not serve the same pages"
    return s


# --- where the time of record() goes --------------------------------------------------------------


@contextmanager
def timing(obj: Any, name: str, into: list[int]) -> Iterator[None]:
    """Time every call of obj.name (an instance attribute shadowing the method) while inside."""
    original = getattr(obj, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            into.append(time.perf_counter_ns() - t0)

    setattr(obj, name, timed)
    try:
        yield
    finally:
        delattr(obj, name)  # the class's method shows through again


class _TimedLog:
    """access.log stand-in that times log.info and log.error (they render JSON lines)."""

    def __init__(self, log: Any, into: list[int]) -> None:
        self._log, self._into = log, into

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._log, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter_ns()
            try:
                return method(*args, **kwargs)
            finally:
                self._into.append(time.perf_counter_ns() - t0)

        return timed


def _median_us(ns: list[int]) -> float:
    return statistics.median(ns) / 1e3 if ns else math.nan


STORAGE = {  # scratch tables for the record's JSON: PostgreSQL's default TOAST compression, ...
    "pglz": "data jsonb",
    "lz4": "data jsonb COMPRESSION lz4",
    "none": "data jsonb",  # then SET STORAGE EXTERNAL: out of line, uncompressed
}


def storage_costs(url: str, record_json: str, n: int = 300) -> dict[str, Any]:
    """Median µs of one INSERT + COMMIT of the record's JSON, by how the column compresses it."""
    out: dict[str, list[int]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, column in STORAGE.items():
            try:
                conn.execute(f"CREATE TABLE bench_{name} (id uuid PRIMARY KEY, {column})")
            except psycopg.errors.FeatureNotSupported:  # a server built without lz4
                continue
            if name == "none":
                conn.execute("ALTER TABLE bench_none ALTER COLUMN data SET STORAGE EXTERNAL")
            out[name] = []
        for _ in range(n):  # in turn, to share the same moments
            for name, times in out.items():
                t0 = time.perf_counter_ns()
                conn.execute(
                    f"INSERT INTO bench_{name} VALUES (%s, %s::jsonb)", (uuid.uuid4(), record_json)
                )
                times.append(time.perf_counter_ns() - t0)
        sizes = {
            name: conn.execute(f"SELECT avg(pg_column_size(data)) FROM bench_{name}").fetchone()[0]
            for name in out
        }
        events_column = conn.execute(
            "SELECT CASE attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4'"
            " ELSE 'default: ' || current_setting('default_toast_compression') END"
            " FROM pg_attribute WHERE attrelid = 'booking.events'::regclass AND attname = 'data'"
        ).fetchone()[0]
    print(f"    booking.events.data compression: {events_column}", flush=True)
    return {
        "events_compression": events_column,
        **{f"store_{k}": _median_us(v) for k, v in out.items()},
        **{f"bytes_{k}": float(v) for k, v in sizes.items()},
    }


def breakdown(
    ctx: Ctx, p: Principal, queries: list[str], url: str, record_json: str
) -> dict[str, Any]:
    """Median µs per record of its parts, over DIAG_WALKS more walks (instrumented), and
    what the validation and the storage of the same record cost in tight loops."""
    recorder = ctx.recorder
    assert isinstance(recorder, TimedRecorder)
    parts: dict[str, list[int]] = {"dump": [], "append": [], "log": []}
    recorder.ns.clear()
    original_log = access.log
    access.log = _TimedLog(original_log, parts["log"])
    try:
        with (
            timing(access, "_check", parts["dump"]),
            timing(recorder.store, "append", parts["append"]),
        ):
            for q in queries[:DIAG_WALKS]:
                walk(ctx, p, q)
    finally:
        access.log = original_log
    for calls in parts.values():  # a part the recorder skips (a filtered log) costs 0
        if not calls:
            calls.extend([0] * len(recorder.ns))
    out: dict[str, Any] = {k: _median_us(v) for k, v in parts.items()}
    out["record"] = _median_us(recorder.ns)
    # Each record called each part once, in order: the rest, record by record.
    assert all(len(v) == len(recorder.ns) for v in parts.values()), "a part called twice"
    out["rest"] = _median_us(
        [r - d - a - g for r, d, a, g in zip(recorder.ns, *parts.values(), strict=True)]
    )
    # dump_payload builds a new Schema for its load and another for its dump; one kept:
    as_input = json.loads(record_json)
    schema = REGISTRY.contract("AppointmentsAccessed").schema()
    fresh, kept, plain = [], [], []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        REGISTRY.dump_payload("AppointmentsAccessed", as_input)
        t1 = time.perf_counter_ns()
        schema.dump(schema.load(as_input))
        t2 = time.perf_counter_ns()
        json.dumps(as_input)
        fresh.append(t1 - t0)
        kept.append(t2 - t1)
        plain.append(time.perf_counter_ns() - t2)
    out["dump_isolated"] = _median_us(fresh)
    out["dump_kept_schema"] = _median_us(kept)
    out["json_only"] = _median_us(plain)
    out["record_bytes"] = len(record_json.encode())
    out["entries"] = len(as_input.get("entries", []))
    out.update(storage_costs(url, record_json))
    return out


def last_record_json(url: str) -> str:
    """The largest committed AppointmentsAccessed (a full page), as stored: the floor's payload."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT data::text FROM booking.events WHERE event_type = 'AppointmentsAccessed'"
            " ORDER BY jsonb_array_length(data->'entries') DESC, position DESC LIMIT 1"
        ).fetchone()
    if row is None:
        raise RuntimeError("no access record was committed")
    return row[0]


# --- report --------------------------------------------------------------------------------------


def _met(ratio: float) -> str:
    return "yes" if ratio <= TARGET else "**no**"


def render_console(scenarios: list[Scenario]) -> str:
    """The table printed at the end of a run."""
    lines = [
        "",
        f"{'scenario':<46}{'side':<10}{'median ms':>10}{'p95 ms':>9}{'searches/s':>12}",
    ]
    for s in scenarios:
        for name, side in (("traced", s.traced), ("untraced", s.untraced)):
            lines.append(
                f"{s.label:<46}{name:<10}{side.median_ms():>10.2f}{side.p95_ms():>9.2f}"
                f"{side.rate():>12,.0f}"
            )
        lines.append(
            f"{'':<46}{'ratio':<10}{s.ratio():>10.2f}{s.p95_ratio():>9.2f}{s.rate_ratio():>12.2f}"
            f"   target <= {TARGET}: {'met' if s.ratio() <= TARGET else 'NOT met'}"
        )
        lines.append(
            f"{'':<46}record() median {_median_us(s.record_ns) / 1e3:.2f} ms; floor INSERT+COMMIT"
            f" {s.floor.median_ms():.2f} ms, with the record's JSON {s.floor_json.median_ms():.2f}"
            " ms"
        )
    return "\n".join(lines)


def render_parts(parts: dict[str, Any]) -> str:
    """Where record()'s time goes, for the console."""
    rest = parts["rest"]
    stored = ", ".join(
        f"{k} {parts[f'store_{k}']:,.0f} µs" for k in STORAGE if f"store_{k}" in parts
    )
    return "\n".join(
        [
            f"\nrecord() of a page of {int(parts['entries'])} ({int(parts['record_bytes']):,}"
            " bytes of JSON), median µs:",
            f"  whole {parts['record']:,.0f}; _check {parts['dump']:,.0f},"
            f" EventStore.append {parts['append']:,.0f}, log.debug {parts['log']:,.0f},"
            f" the rest {rest:,.0f} (medians of each: they need not add up)",
            f"  dump_payload alone {parts['dump_isolated']:,.0f}, with one schema kept"
            f" {parts['dump_kept_schema']:,.0f}, json.dumps {parts['json_only']:,.0f}",
            f"  INSERT + COMMIT of its JSON by compression: {stored}"
            f" (booking.events.data: {parts['events_compression']})",
        ]
    )


def _ms(ns: list[int]) -> float:
    return _median_us(ns) / 1e3


def render_section(
    scenarios: list[Scenario],
    info: dict[str, str],
    agenda: Agenda,
    sizes: dict[str, int],
    parts: dict[str, Any],
    command: str,
) -> str:
    """The docs/benchmarks.md section of this run, from its figures only."""
    out = [
        SECTION,
        "",
        f"Generated by `make bench-booking` (`{command}`, issue #5); do not edit by hand, run it"
        " again. Every figure below was measured in one run of the script.",
        "",
        "A search served with its access record (`AccessRecorder`: the AppointmentsAccessed event"
        " is committed before the page is returned, as the service runs) against the same search"
        " with recording switched off (`UnrecordedReads`, bench only). Target: traced / untraced"
        f" ≤ {TARGET}.",
        "",
        "### Machine",
        "",
        *[f"- **{k}**: {v}" for k, v in info.items()],
        "",
        f"### Results ({len(scenarios[0].traced.ns):,} searches per side and scenario)",
        "",
        f"Every search returned {scenarios[0].traced.served / len(scenarios[0].traced.ns):.1f}"
        f" appointments on average (`_count={COUNT}`), the same pages on both sides.",
        "",
        "| scenario | side | median ms/search | p95 ms | searches/s |",
        "|---|---|---:|---:|---:|",
    ]
    for s in scenarios:
        for name, side in (("traced", s.traced), ("untraced", s.untraced)):
            out.append(
                f"| {s.label} | {name} | {side.median_ms():.2f} | {side.p95_ms():.2f} |"
                f" {side.rate():,.0f} |"
            )
    out += [
        "",
        "| scenario | ratio (medians) | ratio (p95) | ratio (searches/s) | target | met? |",
        "|---|---:|---:|---:|---:|:---:|",
        *[
            f"| {s.label} | {s.ratio():.2f} | {s.p95_ratio():.2f} | {s.rate_ratio():.2f} |"
            f" ≤ {TARGET} | {_met(s.ratio())} |"
            for s in scenarios
        ],
        "",
        "Each ratio is traced / untraced (for searches/s, untraced / traced), so above 1 is what"
        " recording costs. The target applies to the ratio of medians.",
        "",
        "### The record against the cost floor of a commit",
        "",
        "| scenario | traced - untraced (medians) | record() in the traced searches |"
        " INSERT + COMMIT, one uuid row | INSERT + COMMIT, the record's JSON |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {s.label} | {s.traced.median_ms() - s.untraced.median_ms():.2f} ms |"
            f" {_ms(s.record_ns):.2f} ms | {s.floor.median_ms():.2f} ms |"
            f" {s.floor_json.median_ms():.2f} ms |"
            for s in scenarios
        ],
        "",
    ]
    base = scenarios[0]
    delta = base.traced.median_ms() - base.untraced.median_ms()
    floor_ms, floor_json_ms = base.floor.median_ms(), base.floor_json.median_ms()
    rest = parts["rest"]
    out += [
        f"Medians, scenario `{base.label}`. Recording adds {delta:.2f} ms to a search and"
        f" record() takes {_ms(base.record_ns):.2f} ms of it. The commit alone (one row, one"
        f" round trip, one WAL flush) is {floor_ms:.2f} ms, {floor_ms / delta:.0%} of the added"
        f" time; the same row carrying the record's {int(parts['record_bytes']):,} bytes of JSON"
        f" ({int(parts['entries'])} entries) takes {floor_json_ms:.2f} ms,"
        f" {floor_json_ms / delta:.0%}. No recorder that commits each record before serving can"
        " go under the first figure.",
        "",
        f"### Where record() spends its time ({DIAG_WALKS * PAGES} more traced searches,"
        f" `{base.label}`)",
        "",
        "| part | median µs per record |",
        "|---|---:|",
        f"| record(), whole | {parts['record']:,.0f} |",
        f"| `access._check` (caller-supplied fields only; no marshmallow per record) |"
        f" {parts['dump']:,.0f} |",
        f"| `EventStore.append` (pool, `append_events`, commit) | {parts['append']:,.0f} |",
        f'| `log.debug("access.recorded")` (filtered at INFO) | {parts["log"]:,.0f} |',
        f"| the rest (payload dict, NewEvent, counter) | {rest:,.0f} |",
        "",
        "Each part is a median over the records (the rest: record() minus its timed parts, record"
        " by record), so the parts need not add up to the whole exactly.",
        "",
        "What per-record contract validation would cost (the recorder no longer does it; the"
        " suite checks every committed record against the contract instead): in a tight loop,"
        f" `dump_payload` {parts['dump_isolated']:,.0f} µs; the"
        " same load + dump on one schema instance kept (`dump_payload` builds a new Schema for"
        f" each) {parts['dump_kept_schema']:,.0f} µs; `json.dumps` of it"
        f" {parts['json_only']:,.0f} µs.",
        "",
        *storage_lines(parts),
        "",
        "### Method",
        "",
        f"- **Data.** A database `carnet_bench_booking_<random>`, migrated, dropped at the end."
        f" {sizes['practitioners']} practitioners and {sizes['patients']:,} patients through"
        " `directory.apply_practitioner` / `apply_patient`; 30-minute slots, 16 a day from"
        " tomorrow, opened by an admin through `commands.open_slots`"
        f" ({SPARE_SLOTS:.1f} slots per appointment); {agenda.booked:,} appointments booked"
        f" through `commands.book` by {BOOKERS} threads, {agenda.with_reason:,} of them with a"
        " reason (sealed with the patient's key).",
        f"- **Searches.** A connector reaching {REACHED} practitioners, with the scope `{READ}`"
        f" or also `{READ_MEDICAL}` (then the reasons are decrypted and disclosed). A walk:"
        f" `practitioner=<one of the {REACHED}>&date=ge…&date=lt…&_count={COUNT}`, then the"
        f" next links, {PAGES} pages. One search is `routes.search_appointments` (parse, reach,"
        " query, directory, decryption, FHIR resources, record, bundle) plus `json.dumps` of"
        " the body, inside `api.respond`: what `BookingService._serve` runs once the caller is"
        " authenticated; no HTTP, no identity call. Logging is configured as the service's"
        " (JSON lines, INFO), written to /dev/null.",
        "- **Same moments.** Each walk runs on both sides in turn, the first side alternating"
        f" (A B, B A, ...), after {WARMUP_WALKS} untimed walks each. Both sides share one pool"
        " (at most 10 connections, as the service's), the same queries and the same rows. After"
        f" each pair of walks, {PAGES} floor INSERTs of each kind, on a plain autocommit"
        " connection, into a scratch table"
        " `(id uuid PRIMARY KEY, data jsonb, at timestamptz DEFAULT now())`.",
        "- **Figures.** One client searching back to back: searches/s = searches / their summed"
        " latency; p95 by nearest rank. record() is timed inside the traced searches (two clock"
        " reads around the real `AccessRecorder.record`). For the breakdown,"
        " `REGISTRY.dump_payload`, the store's `append` and the access module's logger are"
        f" wrapped in timers for {DIAG_WALKS} more walks, after the measurement.",
        "",
    ]
    return "\n".join(out)


def storage_lines(parts: dict[str, Any]) -> list[str]:
    """The record's JSON stored by compression: what TOAST costs each record."""
    labels = {"pglz": "pglz", "lz4": "lz4", "none": "none (`STORAGE EXTERNAL`)"}
    kinds = [k for k in labels if f"store_{k}" in parts]
    return [
        f"The same {int(parts['record_bytes']):,} bytes of JSON INSERTed + COMMITted into"
        " scratch tables by column compression, in turn, 300 times each (`booking.events.data`"
        f" compresses with {parts['events_compression']}):",
        "",
        "| compression | median µs | stored bytes |",
        "|---|---:|---:|",
        *[
            f"| {labels[k]} | {parts[f'store_{k}']:,.0f} | {parts[f'bytes_{k}']:,.0f} |"
            for k in kinds
        ],
    ]


def write_section(path: Path, section: str) -> None:
    """Replace this section in the page (up to the next `## ` heading), or append it."""
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


# --- main ----------------------------------------------------------------------------------------


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
    parser.add_argument(
        "--write-docs", action="store_true", help=f"write '{SECTION}' in docs/benchmarks.md"
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None, help="figures for all.py, as JSON")
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
    configure_logging("booking", "INFO", stream=open(os.devnull, "w"))  # noqa: SIM115
    started, load_before = time.monotonic(), _load()
    with bench_database(args.pg) as url:
        info = machine(url)
        print(f"database {urlsplit(url).path[1:]}; sizes {sizes}", flush=True)
        pool = ConnectionPool(url, min_size=1, max_size=10, open=True, name="bench-booking")
        try:
            store = EventStore(pool, "booking")
            keys = KeyRing(pool, MasterKey.from_b64(generate_master_key_b64()))
            settings = Settings()
            traced = Ctx(pool, store, keys, TimedRecorder(store), settings)
            untraced = Ctx(pool, store, keys, UnrecordedReads(), settings)
            t0 = time.monotonic()
            print("  seeding through commands.open_slots and commands.book", flush=True)
            agenda = seed(traced, sizes["practitioners"], sizes["patients"], sizes["appointments"])
            seeded = time.monotonic() - t0
            print(f"  seeded {agenda.booked:,} appointments in {seeded:.0f} s", flush=True)
            reached = agenda.practitioners[:REACHED]
            principals = {
                READ: Principal(
                    "connector", uuid.uuid4(), frozenset({READ}), {READ: frozenset(reached)}
                ),
                f"{READ} + {READ_MEDICAL}": Principal(
                    "connector",
                    uuid.uuid4(),
                    frozenset({READ, READ_MEDICAL}),
                    {READ: frozenset(reached), READ_MEDICAL: frozenset(reached)},
                ),
            }
            queries = first_queries(agenda, reached, math.ceil(args.searches / PAGES))
            walk(traced, principals[READ], queries[0])  # one record of a full page, for the floor
            record_json = last_record_json(url)
            floor = Floor(url, record_json)
            scenarios = []
            try:
                for label, p in principals.items():
                    print(f"  measuring: {label}", flush=True)
                    scenarios.append(measure(label, traced, untraced, p, queries, floor))
            finally:
                floor.close()
            print("  breakdown of record()", flush=True)
            parts = breakdown(traced, principals[READ], queries, url, record_json)
        finally:
            pool.close()
    info["load average (1/5/15 min)"] = f"{load_before} before, {_load()} after"
    info["seeding"] = f"{seeded:.0f} s ({agenda.booked / seeded:,.0f} bookings/s)"
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    print(render_console(scenarios))
    print(render_parts(parts))
    if args.write_docs:
        path = args.docs
        write_section(path, render_section(scenarios, info, agenda, sizes, parts, command))
        print(f"wrote '{SECTION}' in {path}")
    if args.json is not None:
        write_json(args.json, "booking", figures(scenarios, parts), info)
    return 0


def figures(scenarios: list[Scenario], parts: dict[str, Any]) -> list[Figure]:
    """The summary's rows: traced / untraced median latency per scenario (one run)."""
    out = []
    for s in scenarios:
        note = ""
        if s.ratio() > TARGET:
            delta = s.traced.median_ms() - s.untraced.median_ms()
            floor = s.floor_json.median_ms()
            note = (
                f"Recording adds {delta:.2f} ms to a median search of"
                f" {s.untraced.median_ms():.2f} ms; record() takes {_ms(s.record_ns):.2f} ms of"
                f" it: `EventStore.append` {parts['append'] / 1e3:.2f} ms, building the payload"
                f" and event {parts['rest'] / 1e3:.2f} ms (medians on `appointment:read`). The"
                " record is committed before the page is served, and one INSERT + COMMIT of the"
                f" record's {int(parts['record_bytes']):,} bytes of JSON alone takes"
                f" {floor:.2f} ms here: a {TARGET}x target needs an untraced search of at least"
                f" {floor / (TARGET - 1):.1f} ms, or a cheaper record. What could close it, to"
                " be measured: a smaller record (ids and field classes rather than whole"
                " entries: fewer bytes to build, encode and flush), and a cheaper build of the"
                " payload and event (the rest above)."
            )
        out.append(
            Figure(
                key="booking.search." + ("read-medical" if READ_MEDICAL in s.label else "read"),
                label=f"connector search with its access record ({s.label}), median latency",
                unit="ms",
                value=s.traced.median_ms(),
                baseline=s.untraced.median_ms(),
                baseline_label="the same search, recording off",
                ratio=s.ratio(),
                target=TARGET,
                op="<=",
                runs=[s.ratio()],
                section=SECTION,
                note=note,
                profile={
                    "argv": [
                        "scripts/bench/booking_reads.py",
                        "--appointments",
                        "3000",
                        "--patients",
                        "600",
                        "--searches",
                        "500",
                    ],
                    "focus": r"TimedRecorder\.record ",
                },
            )
        )
    return out


if __name__ == "__main__":
    _cli.run(main, "the benchmark database was removed")
