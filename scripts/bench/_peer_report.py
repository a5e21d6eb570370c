"""peer.py's figures and its docs/benchmarks.md section, from the measured rates only."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from scripts.bench._figures import Figure
from scripts.bench._payload import event_size

SECTION = "## Peer: Carnet's EventStore vs the eventsourcing library"
PEER = "eventsourcing PostgresApplicationRecorder"
NAMES = {"raw": "raw psycopg", "carnet": "Carnet EventStore", "peer": "eventsourcing"}


@dataclass
class PeerRow:
    """One workload: each side's rate per run, and the CPU its writers and backends used."""

    key: str
    label: str
    writers: int
    batch: int
    rates: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # side: [client s, server s, n]

    def add(self, side: str, rate: float, span: Any = None, events: int = 0) -> None:
        """One run's rate of a side (and its CPU, for appends)."""
        self.rates.setdefault(side, []).append(rate)
        if span is not None:
            total = self.cpu.setdefault(side, [0.0, 0.0, 0])
            total[0] += span.client_cpu
            total[1] += span.server_cpu
            total[2] += events

    def median(self, side: str) -> float:
        """The median rate of a side."""
        return statistics.median(self.rates[side])

    def ratios(self, a: str, b: str) -> list[float]:
        """a / b per run (both measured in turn within a run)."""
        return [x / y for x, y in zip(self.rates[a], self.rates[b], strict=True)]

    def ratio(self, a: str, b: str) -> float:
        """The median of the per-run ratios a / b."""
        return statistics.median(self.ratios(a, b))

    def cpu_us(self, side: str) -> float:
        """Client + backend CPU µs per event over every run (nan when not measured)."""
        client, server = self.cpu_split(side)
        return client + server

    def cpu_split(self, side: str) -> tuple[float, float]:
        """(client, backend) CPU µs per event over every run."""
        client, server, events = self.cpu.get(side, [math.nan, math.nan, 1])
        return client / events * 1e6, server / events * 1e6

    def cpu_cell(self, side: str) -> str:
        """`total (client + backend)` for the table."""
        client, server = self.cpu_split(side)
        return f"{client + server:,.0f} ({client:,.0f} + {server:,.0f})"

    def progress(self) -> str:
        """The last run's rates, for the console."""
        return "  ".join(f"{side} {rates[-1]:>8,.0f}/s" for side, rates in self.rates.items())


def figures(rows: list[PeerRow]) -> list[Figure]:
    """Carnet against the peer for every workload (no target), and batched 4 writers vs raw."""
    out = [
        Figure(
            key=f"peer.{r.key}",
            label=f"{r.label}: Carnet vs eventsourcing",
            unit="events/s",
            value=r.median("carnet"),
            baseline=r.median("peer"),
            baseline_label=PEER + (", state decoded" if r.key == "read" else ""),
            ratio=r.ratio("carnet", "peer"),
            runs=r.ratios("carnet", "peer"),
            section=SECTION,
        )
        for r in rows
    ]
    batch4 = next(r for r in rows if r.key == "batch4")
    ratio = batch4.ratio("carnet", "raw")
    note = ""
    if ratio < 0.8:
        note = (
            f"Per event, Carnet's writers and backends used {batch4.cpu_us('carnet'):,.0f} µs of"
            f" CPU against {batch4.cpu_us('raw'):,.0f} µs for raw executemany: with 4 writers"
            " and their backends on 2 cores the run is CPU-bound, so that sets the rate. The"
            " append path's costs and fixes are in the event store section's notes."
        )
    out.append(
        Figure(
            key="store.batch4",
            label=batch4.label.split(" (", 1)[0] + f" ({batch4.batch} events/tx), 4 writers",
            unit="events/s",
            value=batch4.median("carnet"),
            baseline=batch4.median("raw"),
            baseline_label="raw psycopg executemany",
            ratio=ratio,
            target=0.8,
            runs=batch4.ratios("carnet", "raw"),
            section=SECTION,
            note=note,
            profile={
                "argv": [
                    "scripts/bench/profile_workload.py",
                    "append",
                    "--writers",
                    "4",
                    "--batch",
                    str(batch4.batch),
                ],
                "focus": r"EventStore\.append ",
            },
        )
    )
    return out


def render_console(rows: list[PeerRow]) -> str:
    """The table for the terminal."""
    lines = [f"\n{'workload':<52}{'raw/s':>10}{'carnet/s':>10}{'peer/s':>10}{'c/peer':>8}"]
    for r in rows:
        lines.append(
            f"{r.label:<52}{r.median('raw'):>10,.0f}{r.median('carnet'):>10,.0f}"
            f"{r.median('peer'):>10,.0f}{r.ratio('carnet', 'peer'):>8.2f}"
        )
    return "\n".join(lines)


def _runs(values: list[float], digits: int = 0) -> str:
    return ", ".join(f"{v:,.{digits}f}" for v in values)


def render_section(
    rows: list[PeerRow], info: dict[str, str], runs: int, rounds: int, calls: list[str]
) -> str:
    """The docs/benchmarks.md section of one run of peer.py."""
    read = next(r for r in rows if r.key == "read")
    out = [
        SECTION,
        "",
        "Generated by `python scripts/bench/peer.py --write-docs` (`make bench`, issue #11 item"
        " 7); do not edit by hand. Every figure below was measured in one run of it.",
        "",
        f"Machine: {info.get('cpu', '?')}, {info.get('nproc', '?')} cores, PostgreSQL"
        f" {info.get('postgresql', '?')} ({info.get('postgresql settings', '?')}),"
        f" {info.get('date', '?')}; {info.get('packages', '?')}; {info.get('duration', '?')}.",
        "",
        f"### Results (median of {runs} runs, events/s)",
        "",
        "| workload | raw psycopg | Carnet EventStore | eventsourcing | Carnet / eventsourcing"
        " | Carnet / raw | eventsourcing / raw |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r.label} | {r.median('raw'):,.0f} | {r.median('carnet'):,.0f} |"
            f" {r.median('peer'):,.0f} | {r.ratio('carnet', 'peer'):.2f} |"
            f" {r.ratio('carnet', 'raw'):.2f} | {r.ratio('peer', 'raw'):.2f} |"
        )
    out += [
        "",
        "Ratios are medians of the per-run ratios (the sides take turns within a run). For the"
        " read, the eventsourcing column decodes each event's JSON (`json.loads` of its"
        " state), as `read_all` returns decoded data; without decoding, `select_notifications`"
        f" alone read {read.median('peer-bytes'):,.0f} events/s"
        f" ({read.ratio('carnet', 'peer-bytes'):.2f} Carnet / eventsourcing).",
        "",
        "### Every run (events/s)",
        "",
        "| workload | raw | Carnet | eventsourcing |",
        "|---|---|---|---|",
        *[
            f"| {r.label} | {_runs(r.rates['raw'])} | {_runs(r.rates['carnet'])} |"
            f" {_runs(r.rates['peer'])} |"
            for r in rows
        ],
        "",
        "### CPU per appended event, µs: total (writers + their backends), over every run",
        "",
        "| workload | raw | Carnet | eventsourcing |",
        "|---|---:|---:|---:|",
        *[
            f"| {r.label} | {r.cpu_cell('raw')} | {r.cpu_cell('carnet')} | {r.cpu_cell('peer')} |"
            for r in rows
            if r.cpu
        ],
        "",
        *calls,
        "",
        "### What each side does",
        "",
        "- **raw psycopg**: one autocommit INSERT per event, or `executemany` + COMMIT per"
        " batch, into `raw_events (LIKE events INCLUDING ALL)`, as in the event store section.",
        "- **Carnet**: `EventStore.append(stream, events, expected_version)` (xid ordering,"
        " ADR 0003: writers take no lock; `append_events` checks ids and the stream's head).",
        f"- **eventsourcing** ({info.get('packages', '').rsplit(', ', 1)[-1]}):"
        " `PostgresApplicationRecorder.insert_events([StoredEvent, ...])` with the library's"
        " default datastore (one pooled autocommit connection, `enable_db_functions` off). Each"
        " call is one pipelined transaction: `LOCK TABLE ... IN EXCLUSIVE MODE` (its answer to"
        " the gap problem of ADR 0003: writers of a table go one at a time, from the lock to the"
        " commit), `NOTIFY`, and an INSERT from `unnest` of a composite-type array, returning"
        " the notification ids. The `(originator_id, originator_version)` primary key catches a"
        " version clash. Each event's state is `json.dumps` of the same data and metadata,"
        f" encoded in the timed loop ({event_size():,} bytes of JSON; Carnet encodes its own in"
        " `append`); originator ids are uuid5 of the stream names.",
        "- **Read**: raw keyset `SELECT` by position, `read_all(cursor, limit=1000)`, and"
        " `select_notifications(start, limit=1000)` from the last id + 1 (prepared), page by"
        " page in turn over tables of the same events, each filled server-side one transaction"
        " per event, then VACUUM ANALYZE, after one untimed walk of each.",
        "",
        "### Method",
        "",
        "One database and vhost `carnet_bench_<random>`, removed at the end. Writers are spawned"
        " processes (store.py's `WriterGang`), each with its own connection, released together"
        " by a barrier, with 10 untimed warm-up transactions per writer and round on streams of"
        f" their own. Every run gets fresh tables, and is cut into {rounds} rounds in which each"
        " side runs once, in rotating order; a run's rate is its events over the summed round"
        " times. The row count of each side's table is checked after each run. Streams are"
        " appointments of 10 events (single appends, expected version tracked) or one new"
        " stream per batch; writers never share a stream.",
    ]
    return "\n".join(out) + "\n"
