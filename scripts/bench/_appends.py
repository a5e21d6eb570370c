"""Append workloads: raw psycopg INSERTs vs EventStore.append, in spawned writer processes."""

from __future__ import annotations

import importlib
import math
import multiprocessing as mp
import queue
import signal
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from scripts.bench._payload import EVENT_TYPE, event_metadata, payload, schema_version
from services.common.eventstore import EventStore, NewEvent

Kind = Literal["raw", "xid", "lock", "peer"]
BARRIER_TIMEOUT_S = 120.0
RESULT_TIMEOUT_S = 600.0
EVENTS_PER_STREAM = 10  # single appends: an appointment's life is a handful of events
# Transactions per writer before the barrier, on streams of their own: statements prepared,
# plpgsql compiled, caches loaded, as on a service's long-lived connection. Not counted.
WARMUP = 10
WARMUP_PREFIX = "warmup-"

COLUMNS = "stream_id, stream_version, event_id, event_type, schema_version, data, metadata"


@dataclass(frozen=True)
class AppendJob:
    """What one writer does in one round: `batches` transactions of `batch` events each."""

    database_url: str
    schema: str
    kind: Kind
    writer: int
    round: int
    batches: int
    batch: int
    runner: str = ""  # "module:function" making the Runner; empty: raw or EventStore by kind


Streams = list[tuple[str, int]]  # (stream, expected version) per transaction


def _streams(job: AppendJob, warmup: bool = False) -> Streams:
    """The streams a writer appends to in a round; a writer never shares a stream."""
    warm, count = (WARMUP_PREFIX, WARMUP) if warmup else ("", job.batches)
    tag = f"{job.writer}-{job.round}"
    if job.batch > 1:  # one new stream per batch, e.g. a schedule's slots
        return [(f"{warm}schedule-{tag}-{b}", 0) for b in range(count)]
    return [
        (f"{warm}appointment-{tag}-{i // EVENTS_PER_STREAM}", i % EVENTS_PER_STREAM)
        for i in range(count)
    ]


@dataclass
class Span:
    """One measurement: wall seconds, and CPU seconds spent by the writers and their backends."""

    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def __iadd__(self, other: Span) -> Span:
        """Add another measurement's figures to this one."""
        self.seconds += other.seconds
        self.client_cpu += other.client_cpu
        self.server_cpu += other.server_cpu
        return self


def backend_cpu(pid: int) -> float:
    """CPU seconds of a PostgreSQL backend when it runs on this machine (scheduler's ns count)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"postgres" not in f.read():
                return math.nan  # another pid namespace (e.g. a container): not that process
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return math.nan


# prepare(streams) makes the ids and events and returns the timed loop; close; backend pid
Runner = tuple[Callable[[Streams], Callable[[], None]], Callable[[], None], int]


def raw_insert(schema: str) -> sql.Composed:
    """INSERT of one row into <schema>.raw_events, the caller's columns only."""
    return sql.SQL("INSERT INTO {}.raw_events ({}) VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
        sql.Identifier(schema), sql.SQL(COLUMNS)
    )


def _raw_runner(job: AppendJob) -> Runner:
    """One autocommit INSERT per event, or executemany + COMMIT per batch."""
    data, meta, version = payload(), event_metadata(), schema_version()
    conn = psycopg.connect(job.database_url, autocommit=job.batch == 1)
    insert = raw_insert(job.schema)

    def prepare(streams: Streams) -> Callable[[], None]:
        ids = [[uuid.uuid4() for _ in range(job.batch)] for _ in streams]

        def run() -> None:
            if job.batch == 1:
                for (stream, expected), (i,) in zip(streams, ids, strict=True):
                    row = (stream, expected + 1, i, EVENT_TYPE, version, Jsonb(data), Jsonb(meta))
                    conn.execute(insert, row)
                return
            with conn.cursor() as cur:
                for (stream, expected), batch_ids in zip(streams, ids, strict=True):
                    cur.executemany(
                        insert,
                        [
                            (stream, expected + n, i, EVENT_TYPE, version, Jsonb(data), Jsonb(meta))
                            for n, i in enumerate(batch_ids, start=1)
                        ],
                    )
                    conn.commit()

        return run

    return prepare, conn.close, conn.info.backend_pid


def _carnet_runner(job: AppendJob) -> Runner:
    """EventStore.append on a one-connection pool, as a service process holds it."""
    data, meta, version = payload(), event_metadata(), schema_version()
    pool = ConnectionPool(job.database_url, min_size=1, max_size=1, open=True)
    pool.wait()
    with pool.connection() as conn:  # the pool's only connection, for the CPU accounting
        pid = conn.info.backend_pid
    store = EventStore(pool, job.schema, ordering="lock" if job.kind == "lock" else "xid")

    def prepare(streams: Streams) -> Callable[[], None]:
        batches = [
            [NewEvent(uuid.uuid4(), EVENT_TYPE, version, data, meta) for _ in range(job.batch)]
            for _ in streams
        ]

        def run() -> None:
            for (stream, expected), events in zip(streams, batches, strict=True):
                store.append(stream, events, expected)

        return run

    return prepare, pool.close, pid


def _runner_for(job: AppendJob) -> Callable[[AppendJob], Runner]:
    """The job's runner maker: its own (imported in the writer process) or raw / EventStore."""
    if job.runner:
        module, name = job.runner.split(":")
        return getattr(importlib.import_module(module), name)
    return _raw_runner if job.kind == "raw" else _carnet_runner


def _worker(writer: int, commands: Any, barrier: Any, results: Any) -> None:
    """Process body: for each job, connect, wait for the others, append, report the span."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    while (job := commands.get()) is not None:
        try:
            prepare, close, pid = _runner_for(job)(job)
            try:
                prepare(_streams(job, warmup=True))()
                run = prepare(_streams(job))
                barrier.wait(BARRIER_TIMEOUT_S)
                start = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
                cpu, server = time.process_time(), backend_cpu(pid)
                run()
                end = time.monotonic()
                cpu, server = time.process_time() - cpu, backend_cpu(pid) - server
                results.put((writer, start, end, cpu, server, None))
            finally:
                close()
        except Exception:
            barrier.abort()  # the others stop waiting for this one
            results.put((writer, 0.0, 0.0, 0.0, 0.0, traceback.format_exc()))


class WriterGang:
    """`writers` spawned processes, kept for many measurements; each job starts on a barrier."""

    def __init__(self, writers: int) -> None:
        """Create (not start) the processes, their command queues and the barrier."""
        ctx = mp.get_context("spawn")
        self.writers = writers
        self.barrier = ctx.Barrier(writers)
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(writers)]
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(w, self.commands[w], self.barrier, self.results),
                name=f"bench-writer-{w}",
                daemon=True,
            )
            for w in range(writers)
        ]

    def __enter__(self) -> WriterGang:
        """Start the processes."""
        for p in self.procs:
            p.start()
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Ask each process to stop; terminate any that does not."""
        for q in self.commands:
            q.put(None)
        for p in self.procs:  # only the processes started here, by handle
            p.join(timeout=5 if exc is None else 0.5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)

    def measure(
        self,
        database_url: str,
        schema: str,
        kind: Kind,
        round_: int,
        batches: int,
        batch: int,
        runner: str = "",
    ) -> Span:
        """From the barrier to the last writer done, for `batches` split over the writers."""
        share = [
            batches // self.writers + (w < batches % self.writers) for w in range(self.writers)
        ]
        for w, q in enumerate(self.commands):
            q.put(AppendJob(database_url, schema, kind, w, round_, share[w], batch, runner))
        starts, ends, total = [], [], Span()
        for _ in self.procs:
            try:
                writer, start, end, cpu, server, error = self.results.get(timeout=RESULT_TIMEOUT_S)
            except queue.Empty:
                raise RuntimeError(f"{kind} writers did not finish in time") from None
            if error:
                raise RuntimeError(f"{kind} writer {writer} failed:\n{error}")
            starts.append(start)
            ends.append(end)
            total += Span(0.0, cpu, server)
        total.seconds = max(ends) - min(starts)
        return total
