"""Load one size of synthetic access records: COPY BINARY straight into the access index."""

from __future__ import annotations

import math
import queue
import random
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg

from scripts.bench._audit_index_data import (
    APPOINTMENTS,
    DAYS,
    DENIED,
    FIRST_DAY,
    PAGE,
    SEED,
    UUID_LEN,
    Planted,
    World,
    cell,
    pg_micros,
)
from services.audit import access_index

CHUNK = 20_000  # requests per COPY chunk
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2
COPY_TRAILER = b"\xff\xff"


def generate(
    world: World, size: int, plants: list[Planted]
) -> Iterator[tuple[bytes, bytes, int, int]]:
    """Chunks of binary COPY data, in seq (= time) order: request rows, entry rows, counts.

    Background requests arrive as a Poisson process over the 90 days; the planted ones are
    merged in by time, so seq grows with occurred_at as it does in the ledger.
    """
    rng = random.Random(SEED * 7919 + size)
    background = size - len(plants)
    gap = DAYS * 86_400_000_000 / background
    t = float(pg_micros(FIRST_DAY))
    pack_head = struct.Struct("!hiq").pack  # field count, then seq (len 8, int8)
    pack_end = struct.Struct("!iiiq").pack  # result_count (len 4, int4), occurred_at (len 8)
    pack_at = struct.Struct("!iq").pack
    triples, principals, weights = world.triples, world.principals, world.entries
    who_table, queries = world.weights, world.queries
    read_op, search_op, read_query = cell(b"read"), cell(b"search"), cell(b"")  # read: by id
    bits, rand, log = rng.getrandbits, rng.random, math.log
    scraper = principals[0]
    req_len = struct.pack("!i", 32)
    plant_at = [p.at for p in plants] + [1 << 62]
    pi, seq, emitted = 0, 0, 0
    t_next = t - log(1.0 - rand()) * gap  # the next background request's time
    while seq < size:
        reqs: list[bytes] = []
        ents: list[bytes] = []
        n_entries = 0
        ids = rng.randbytes(16 * CHUNK)
        request_ids = rng.randbytes(16 * CHUNK).hex().encode()
        n_requests = min(CHUNK, size - seq)
        for i in range(n_requests):
            seq += 1
            if plant_at[pi] <= t_next or emitted == background:
                p = plants[pi]
                pi += 1
                at, k, offset, denied = p.at, p.entries, p.offset, p.denied
                acc, rid, who, query = p.access_id, p.request_id, scraper, queries[0]
            else:
                at = int(t_next)
                t_next -= log(1.0 - rand()) * gap
                emitted += 1
                who = principals[who_table[bits(16)]]
                denied = rand() < DENIED
                k = 0 if denied else weights[bits(16)]
                offset = int(rand() * (APPOINTMENTS - PAGE))
                acc = ids[16 * i : 16 * i + 16]
                rid = request_ids[32 * i : 32 * i + 32]
                query = queries[bits(12)]
            reqs += (
                pack_head(17, 8, seq), UUID_LEN, acc, who.head, req_len, rid,
                read_op + read_query if k == 1 else search_op + query,
                who.tail[denied], pack_end(4, k, 8, at),
            )  # fmt: skip
            if k:  # the k rows: prefix, appointment fields, suffix, prefix, ..., suffix
                prefix = pack_head(8, 8, seq) + UUID_LEN + acc
                suffix = who.who + pack_at(8, at)
                ents += (prefix, (suffix + prefix).join(triples[offset : offset + k]), suffix)
                n_entries += k
        yield b"".join(reqs), b"".join(ents), n_requests, n_entries
    assert pi == len(plants), "every planted record is in"


class CopyWriter(threading.Thread):
    """COPY FREEZE into one table from a queue of binary chunks, in its own transaction."""

    def __init__(self, url: str, table: str, columns: tuple[str, ...]) -> None:
        super().__init__(daemon=True, name=f"copy {table}")
        self.url, self.table, self.columns = url, table, columns
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None

    def run(self) -> None:
        """TRUNCATE then COPY ... FREEZE in one transaction: rows frozen and all-visible."""
        try:
            with psycopg.connect(self.url) as conn, conn.cursor() as cur:
                cur.execute(f"TRUNCATE {self.table}")
                statement = (
                    f"COPY {self.table} ({', '.join(self.columns)})"
                    " FROM STDIN (FORMAT BINARY, FREEZE)"
                )
                with cur.copy(statement) as copy:
                    copy.write(COPY_SIGNATURE)
                    while (chunk := self.queue.get()) is not None:
                        copy.write(chunk)
                    copy.write(COPY_TRAILER)
                conn.commit()
        except BaseException as error:  # reported to the main thread
            self.error = error
            while self.queue.get() is not None:  # let the producer finish
                pass

    def put(self, chunk: bytes | None) -> None:
        """Hand a chunk over (blocks while 8 are waiting); raise the writer's error if any."""
        while True:
            if self.error is not None:
                raise RuntimeError(f"COPY into {self.table} failed") from self.error
            try:
                self.queue.put(chunk, timeout=1)
                return
            except queue.Full:
                continue


@dataclass
class Loaded:
    """One size, loaded: rows, seconds per step, bytes on disk."""

    size: int
    entries: int = 0
    steps: dict[str, float] = field(default_factory=dict)
    indexes: dict[str, float] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    first_s: float = 0.0
    scope_rows: int = 0  # the scraper's records written back into the ledger (the check's)


_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = %s::regclass AND NOT i.indisprimary ORDER BY c.relname
"""
# Every foreign key onto the requests (entries, targets): TRUNCATE and COPY FREEZE need none.
_FOREIGN_KEYS = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE confrelid = 'audit.access_requests'::regclass AND contype = 'f'
"""
TABLES = ("audit.access_requests", "audit.access_entries")
# The 17 request fields `generate` writes; V3's denial_code and token_fingerprint stay NULL
# (refusals are classed by their reason, as for records indexed before migration 0020).
LOADED_REQUEST_COLUMNS = access_index.REQUEST_COLUMNS[: access_index.REQUEST_COLUMNS.index(
    "occurred_at") + 1]  # fmt: skip
# Refused reads' targets: the planted world has none, but the table references access_requests,
# which may only turn UNLOGGED once every table referencing it is.
UNLOGGED_TOO = ("audit.access_targets",)


def load(url: str, world: World, size: int, plants: list[Planted]) -> Loaded:
    """COPY the records with the secondary indexes and the FK dropped, then put them back.

    The definitions are read from the catalog and replayed as they were, so the tables end as
    migration 0012 (and any later one) left them; only their persistence differs (UNLOGGED).
    """
    out = Loaded(size)
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = [row for t in TABLES for row in conn.execute(_INDEXES, (t,)).fetchall()]
        fks = conn.execute(_FOREIGN_KEYS).fetchall()
        for table, name, _ in fks:
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX audit.{name}")
        for table in (*TABLES, *UNLOGGED_TOO):  # the projector's guard (migration 0026):
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # no ledger behind these
        for table in UNLOGGED_TOO:
            conn.execute(f"ALTER TABLE {table} SET UNLOGGED")
        for table in TABLES[::-1]:
            conn.execute(f"ALTER TABLE {table} SET UNLOGGED")
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    t0 = time.monotonic()
    writers = [
        CopyWriter(url, TABLES[0], LOADED_REQUEST_COLUMNS),
        CopyWriter(url, TABLES[1], access_index.ENTRY_COLUMNS),
    ]
    for w in writers:
        w.start()
    done = 0
    for reqs, ents, n_requests, n_entries in generate(world, size, plants):
        writers[0].put(reqs)
        writers[1].put(ents)
        done += n_requests
        out.entries += n_entries
        if done % (CHUNK * 50) == 0:
            rate = done / (time.monotonic() - t0)
            print(f"    {min(done, size):,}/{size:,} records ({rate:,.0f}/s)", flush=True)
    for w in writers:
        w.put(None)
    for w in writers:
        w.join()
        if w.error is not None:
            raise RuntimeError(f"COPY into {w.table} failed") from w.error
    out.steps["COPY (generated in this process)"] = time.monotonic() - t0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '2GB'")
        t1 = time.monotonic()
        for name, definition in indexes:
            ti = time.monotonic()
            conn.execute(definition)
            out.indexes[name] = time.monotonic() - ti
            print(f"    {name}: {out.indexes[name]:.0f} s", flush=True)
        out.steps["secondary indexes"] = time.monotonic() - t1
        t1 = time.monotonic()
        for table, name, definition in fks:
            conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        out.steps["foreign key (validated)"] = time.monotonic() - t1
        for table in (*TABLES, *UNLOGGED_TOO):
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        conn.execute(
            "UPDATE audit.projection_positions SET seq = (SELECT max(seq) FROM"
            " audit.access_requests) WHERE name = %s",
            (access_index.NAME,),
        )
        t1 = time.monotonic()
        conn.execute("ANALYZE audit.access_requests, audit.access_entries")
        out.steps["ANALYZE"] = time.monotonic() - t1
        conn.execute("CHECKPOINT")
        for t in TABLES:
            out.bytes[f"{t} heap"] = conn.execute(
                "SELECT pg_table_size(%s::regclass)", (t,)
            ).fetchone()[0]
            out.bytes[f"{t} indexes"] = conn.execute(
                "SELECT pg_indexes_size(%s::regclass)", (t,)
            ).fetchone()[0]
        count = conn.execute("SELECT count(*) FROM audit.access_requests").fetchone()[0]
        assert count == size, (count, size)
    out.steps["total"] = time.monotonic() - t0
    return out
