"""Verify's throughput against a plain SHA-256 over the same bytes, and the witness's cost per
head against the audit's own checkpoint: `make bench-verify` (issue #20).

Fills booking's store with a platform's mix (rebuild.py's log: slots, bookings, access records),
ledgers every event as the sequencer would (same canonical document, same hash chain; loaded by
COPY-sized batches as the superuser, the ledger guard off for the load only), signing a head
every --head-every rows. Then, per run:

- `carnet audit verify`'s full check (chain, heads, cross-check with booking's store, the access
  index) in entries/s, against the floor: SHA-256 chained over the rows' canonical bytes,
  already encoded in memory. Reading the rows and encoding them (RFC 8785) are timed apart, so
  the page says where verify's time goes;
- one new head: --head-every more rows ledgered, the audit's checkpoint (the new rows' hashes
  recomputed, root over every entry hash, sign, append) timed, then one witness round (read
  the new head and the entry hashes, check the RFC 9162 consistency proof, cosign, append in
  its own database) timed.
"""
# ruff: noqa: E402  (the imports below need the repository on sys.path first)

from __future__ import annotations

import argparse
import hashlib
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from scripts.bench._docs import write_section
from scripts.bench._env import Servers, _drop_database, bench_env, machine_info
from scripts.bench._figures import Figure, write_json
from scripts.bench.rebuild import fill, log_of
from services.audit import access_index, ledger
from services.audit.canonical import CURRENT_SCHEME, GENESIS_HASH, SCHEMES, entry_document
from services.audit.checkpoint import checkpoint
from services.audit.crosscheck import cross_check
from services.audit.index_check import check_all
from services.audit.signing import new_seed, signer_from_config
from services.audit.verify import verify_database
from services.common.eventstore.store import EventStore
from services.witness import store as witness_store
from services.witness.keys import Cosigner
from services.witness.run import witness_round

HEADING = "## Ledger verify and witness"
KEY_ID = "bench-audit"
_SOURCE = """
SELECT position, stream_id, stream_version, event_id, event_type, schema_version, data,
       metadata, recorded_at
  FROM booking.events WHERE position > %s ORDER BY position LIMIT %s
"""
_INSERT = f"""
INSERT INTO audit.ledger ({ledger.ENTRY_COLUMNS})
VALUES (%(seq)s, %(event_id)s, %(source_service)s, %(source_position)s, %(stream_id)s,
        %(stream_version)s, %(event_type)s, %(schema_version)s, %(payload_json)s,
        %(metadata_json)s, %(occurred_at)s, %(recorded_at)s, %(hash_scheme)s, %(prev_hash)s,
        %(entry_hash)s)
"""


class Loader:
    """Ledgers booking's events in position order, chained as the sequencer chains them."""

    def __init__(self, url: str) -> None:
        self.url, self.position, self.seq, self.prev = url, 0, 0, GENESIS_HASH

    def ledger(self, rows: int) -> int:
        """The next `rows` stored events into the ledger (one transaction); how many."""
        with psycopg.connect(self.url) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute("ALTER TABLE audit.ledger DISABLE TRIGGER ledger_guard")  # this load only
            batch = []
            for e in cur.execute(_SOURCE, (self.position, rows)).fetchall():
                self.seq += 1
                meta = e["metadata"]
                entry = {
                    "seq": self.seq, "event_id": e["event_id"], "source_service": "booking",
                    "source_position": e["position"], "stream_id": e["stream_id"],
                    "stream_version": e["stream_version"], "event_type": e["event_type"],
                    "schema_version": e["schema_version"], "payload": e["data"],
                    "metadata": {"correlation_id": meta["correlation_id"]},
                    "occurred_at": ledger.parse_timestamp(meta.get("occurred_at")),
                    "recorded_at": datetime.now(UTC), "hash_scheme": CURRENT_SCHEME,
                }  # fmt: skip
                digest = hashlib.sha256(self.prev + SCHEMES[CURRENT_SCHEME](entry_document(entry)))
                entry.update(prev_hash=self.prev, entry_hash=digest.digest(),
                             payload_json=Jsonb(entry["payload"]),
                             metadata_json=Jsonb(entry["metadata"]))  # fmt: skip
                self.prev, self.position = entry["entry_hash"], e["position"]
                batch.append(entry)
            cur.executemany(_INSERT, batch)
            cur.execute("ALTER TABLE audit.ledger ENABLE TRIGGER ledger_guard")
        with psycopg.connect(self.url, autocommit=True) as conn:
            access_index.catch_up(conn)  # as the projector would: verify checks the index too
        return len(batch)


def read_rows(url: str) -> tuple[list[dict[str, Any]], float]:
    """Every ledger row as verify reads it (iter_entries), and the seconds it took."""
    with psycopg.connect(url) as conn, conn.transaction():
        started = time.monotonic()
        rows = list(ledger.iter_entries(conn))
        return rows, time.monotonic() - started


def encode_rows(rows: list[dict[str, Any]]) -> tuple[list[bytes], float]:
    """Each row's canonical bytes in its scheme, and the seconds it took."""
    started = time.monotonic()
    out = [SCHEMES[r["hash_scheme"]](entry_document(r)) for r in rows]
    return out, time.monotonic() - started


def sha_chain(encoded: list[bytes]) -> tuple[bytes, float]:
    """The floor: SHA-256(prev || bytes) over every row, in memory; the last hash, seconds."""
    started, prev = time.monotonic(), GENESIS_HASH
    for b in encoded:
        prev = hashlib.sha256(prev + b).digest()
    return prev, time.monotonic() - started


def timed_verify(url: str, keys: dict[str, Any]) -> tuple[int, float]:
    """Verify's full check (grace one hour: every row was ledgered just now); entries, s."""
    started = time.monotonic()
    report = verify_database(url, keys, services=("booking",), grace_seconds=3600)
    seconds = time.monotonic() - started
    assert report.ok, [f.kind for f in report.findings][:5]
    return report.entries_checked, seconds


def timed_parts(url: str) -> tuple[float, float]:
    """Seconds of verify's cross-check with booking's store, and of its index check, alone."""
    with psycopg.connect(url) as conn, conn.transaction():
        started = time.monotonic()
        mismatches, _ = cross_check(conn, ("booking",), 3600, 1000)
        cross_s = time.monotonic() - started
        started = time.monotonic()
        index = check_all(conn, 1000)
        index_s = time.monotonic() - started
    assert not mismatches and not index
    return cross_s, index_s


def witness_url_for(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path}_witness"))


def main(argv: list[str] | None = None) -> int:
    """Fill, ledger, measure --runs rounds, print; with --write-docs, update the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=20_000)
    parser.add_argument("--head-every", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None, help="figures for all.py, as JSON")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda s, _f: (_ for _ in ()).throw(KeyboardInterrupt(s)))
    seed = new_seed()
    signer = signer_from_config({"AUDIT_SIGNING_KEY": seed, "AUDIT_SIGNING_KEY_ID": KEY_ID})
    keys = {KEY_ID: signer.public_key()}
    cosigner = Cosigner("bench-witness", signer_from_config(
        {"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "w"}).private_key)  # fmt: skip
    with bench_env(Servers()) as env:
        url, wurl = env.database_url, witness_url_for(env.database_url)
        events = log_of(args.appointments, 1.0)
        extra = args.runs * args.head_every
        fill(url, events)
        loader = Loader(url)
        pool = ConnectionPool(url, min_size=1, max_size=2, open=True)
        audit_store = EventStore(pool, "audit")
        try:
            while loader.ledger(args.head_every) == args.head_every:
                if loader.position + extra >= len(events):
                    break  # the rest is for the per-head runs
                assert checkpoint(pool, audit_store, signer)
            assert checkpoint(pool, audit_store, signer)
            witness_store.migrate(wurl)
            started = time.monotonic()
            first = witness_round(wurl, url, keys, cosigner)
            catch_up_s = time.monotonic() - started
            assert first.accepted and not first.refused
            size, heads = loader.seq, len(first.accepted)
            verify_rates, floor_rates, read_rates, encode_rates = [], [], [], []
            cross_rates, index_rates = [], []
            checkpoint_ms, witness_ms = [], []
            for _ in range(args.runs):
                entries, seconds = timed_verify(url, keys)
                verify_rates.append(entries / seconds)
                rows, read_s = read_rows(url)
                encoded, encode_s = encode_rows(rows)
                last, sha_s = sha_chain(encoded)
                assert last == bytes(rows[-1]["entry_hash"]) and len(rows) == entries
                floor_rates.append(len(rows) / sha_s)
                read_rates.append(len(rows) / read_s)
                encode_rates.append(len(rows) / encode_s)
                cross_s, index_s = timed_parts(url)
                cross_rates.append(len(rows) / cross_s)
                index_rates.append(len(rows) / index_s)
                del rows, encoded
                if loader.ledger(args.head_every) == 0:
                    continue
                started = time.monotonic()
                assert checkpoint(pool, audit_store, signer)
                checkpoint_ms.append((time.monotonic() - started) * 1e3)
                started = time.monotonic()
                one = witness_round(wurl, url, keys, cosigner)
                witness_ms.append((time.monotonic() - started) * 1e3)
                assert len(one.accepted) == 1 and not one.refused
            info = machine_info(env)
        finally:
            pool.close()
            _drop_database(env.servers.pg_url, wurl.rpartition("/")[2])
    m = {
        "size": size, "heads": heads, "catch_up_s": catch_up_s, "final": loader.seq,
        "verify": verify_rates, "floor": floor_rates, "read": read_rates,
        "encode": encode_rates, "cross": cross_rates, "index": index_rates,
        "checkpoint_ms": checkpoint_ms, "witness_ms": witness_ms, "head_every": args.head_every,
    }  # fmt: skip
    text = report(args, info, m)
    print(text)
    if args.write_docs:
        write_section(args.docs, HEADING, text)
    if args.json is not None:
        write_json(args.json, "ledger_verify", figures(m), info)
    return 0


def figures(m: dict[str, Any]) -> list[Figure]:
    """The summary's rows: verify against the SHA-256 floor, a witness round against a
    checkpoint. The issue sets no target for either: they are reported, not judged."""
    verify, floor = statistics.median(m["verify"]), statistics.median(m["floor"])
    witness, ckpt = statistics.median(m["witness_ms"]), statistics.median(m["checkpoint_ms"])
    return [
        Figure(key="verify", label=f"carnet audit verify, {m['size']:,} entries",
               unit="entries/s", value=verify, baseline=floor,
               baseline_label="SHA-256 chained over the same canonical bytes, in memory",
               ratio=verify / floor, runs=[v / f for v, f in zip(m["verify"], m["floor"],
                                                                strict=True)],
               section=HEADING),
        Figure(key="witness", label=f"witness round per new head, at {m['final']:,} entries",
               unit="ms", value=witness, baseline=ckpt,
               baseline_label="the audit's own checkpoint of that head", ratio=witness / ckpt,
               op="<=", runs=[w / c for w, c in zip(m["witness_ms"], m["checkpoint_ms"],
                                                    strict=True)],
               section=HEADING),
    ]  # fmt: skip


def report(args: argparse.Namespace, info: dict[str, str], m: dict[str, Any]) -> str:
    """The docs/benchmarks.md section of this run, from its figures only."""
    med = {k: statistics.median(v) for k, v in m.items() if isinstance(v, list) and v}
    # Of verify's time per entry, what reading, encoding and hashing alone take.
    share = {k: 100 * med["verify"] / med[k] for k in ("read", "encode", "floor", "cross", "index")}
    rest = 100 - sum(share.values())
    return "\n".join([
        HEADING, "",
        "Generated by `make bench-verify` (`python scripts/bench/ledger_verify.py --write-docs`,"
        " issue #20); do not edit by hand. Every figure below was measured in one run of it.", "",
        f"Machine: {info.get('cpu', '?')}, {info.get('nproc', '?')} cores, PostgreSQL"
        f" {info.get('postgresql', '?')}, {info.get('date', '?')}. Ledger: {m['size']:,} entries"
        f" (booking's store: rebuild.py's mix for {args.appointments:,} appointments), a signed"
        f" head every {args.head_every:,}; {args.runs} runs, medians.", "",
        "| step | entries/s | runs |",
        "|---|---:|---|",
        f"| `carnet audit verify`, full (chain, heads, cross-check, access index) |"
        f" {med['verify']:,.0f} | {_runs(m['verify'])} |",
        f"| reading the rows as verify does (`iter_entries`) | {med['read']:,.0f} |"
        f" {_runs(m['read'])} |",
        f"| encoding them, RFC 8785 (`entry_document` + `rfc8785.dumps`) | {med['encode']:,.0f} |"
        f" {_runs(m['encode'])} |",
        f"| **floor**: SHA-256 chained over those bytes, in memory | {med['floor']:,.0f} |"
        f" {_runs(m['floor'])} |",
        f"| verify's cross-check with booking's store alone (SQL) | {med['cross']:,.0f} |"
        f" {_runs(m['cross'])} |",
        f"| verify's access-index check alone (re-derived from the ledger) | {med['index']:,.0f} |"
        f" {_runs(m['index'])} |", "",
        f"**Verify / SHA-256 floor: {med['verify'] / med['floor']:.3f}**. Of verify's time per"
        f" entry, reading the rows alone takes {share['read']:.0f} %, encoding them"
        f" {share['encode']:.0f} %, hashing {share['floor']:.0f} %, the cross-check"
        f" {share['cross']:.0f} %, the index check {share['index']:.0f} %; "
        + (f"the rest ({rest:.0f} %) is the Merkle tree, the heads and Python's work between."
           if rest >= 1 else "together they account for all of it, within the runs' noise.")
        + " Each run sees"
        f" {m['head_every']:,} more rows than the last (the per-head step adds them). No target"
        " is set (issue #20 asks for the comparison).", "",
        "| per new head | ms | runs |",
        "|---|---:|---|",
        f"| the audit's checkpoint (the new rows' hashes recomputed, root over every entry"
        f" hash, sign, append) |"
        f" {med['checkpoint_ms']:,.1f} | {_runs(m['checkpoint_ms'], 1)} |",
        f"| one witness round (read head and entry hashes, consistency proof, cosign, append) |"
        f" {med['witness_ms']:,.1f} | {_runs(m['witness_ms'], 1)} |", "",
        f"**Witness round / checkpoint: {med['witness_ms'] / med['checkpoint_ms']:.2f}** at"
        f" {m['final']:,} entries. The first round, accepting the {m['heads']} heads signed"
        f" while the ledger was loaded, took {m['catch_up_s']:.2f} s. Both read every entry"
        " hash up to the new head (32 bytes a row), so both grow with the ledger: at 10M rows"
        " that is 320 MB per head for each.", "",
    ])  # fmt: skip


def _runs(values: list[float], digits: int = 0) -> str:
    return ", ".join(f"{v:,.{digits}f}" for v in values)


if __name__ == "__main__":
    raise SystemExit(main())
