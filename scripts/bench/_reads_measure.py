"""What the recorded-reads bench times: each walk traced and untraced in turn with the cost
floor of a commit in the same moments, then where record()'s time goes."""

from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from contracts.registry import REGISTRY
from scripts.bench._reads_data import PAGES
from scripts.bench._reads_service import Ctx, Principal, TimedRecorder, record_parts_timed, walk
from scripts.bench._report import median_ms

WARMUP_WALKS = 10
DIAG_WALKS = 40


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

    def record_ms(self) -> float:
        """Median time of record() in the traced searches: the recording's own share."""
        return median_ms(self.record_ns, 1e9)


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


def _median_us(ns: list[int]) -> float:
    """Median of ns samples, in µs; nan for a part never called."""
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
    with record_parts_timed(ctx, parts):
        for q in queries[:DIAG_WALKS]:
            walk(ctx, p, q)
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
