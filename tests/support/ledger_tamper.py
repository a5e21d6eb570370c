"""Tampering with a synthetic ledger as the superuser: a built ledger, its rows, a consistent
rewrite (re-hashed from a seq on), for the tamper and witness suites."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from services.audit import ledger
from services.audit.canonical import GENESIS_HASH, entry_hash
from services.audit.checkpoint import checkpoint
from tests.support.ledger import tamper, verify


def build(world):
    """24 entries; signed heads at tree sizes 8 and 17 (their events are entries 9 and 18)."""
    for batch in (8, 8, 6):
        world.emit_many(batch)
        world.ingest_all()
        if batch == 8:
            assert checkpoint(world.pool, world.stores["audit"], world.signer)
    report = verify(world)
    assert report.ok, report.findings
    assert (report.ledger_size, report.checkpoints_checked) == (24, 2)
    return report


def entries(world):
    with psycopg.connect(world.database_url) as conn, conn.transaction():
        return list(ledger.iter_entries(conn))


def rewrite(world, from_seq, change):
    """Replace rows from_seq.. with consistently re-hashed ones, `change` applied to each."""
    rows = entries(world)
    prev = bytes(rows[from_seq - 2]["entry_hash"]) if from_seq > 1 else GENESIS_HASH
    statements = [("DELETE FROM audit.ledger WHERE seq >= %s", (from_seq,))]
    for row in rows[from_seq - 1 :]:
        row = change(dict(row))
        row["prev_hash"], row["entry_hash"] = prev, entry_hash(prev, row)
        prev = row["entry_hash"]
        statements.append((insert_sql(), params(row)))
    tamper(world, *statements)


def insert_sql():
    columns = ledger.ENTRY_COLUMNS.count(",") + 1
    return (
        f"INSERT INTO audit.ledger ({ledger.ENTRY_COLUMNS}) VALUES ({', '.join(['%s'] * columns)})"
    )


def params(row):
    cols = [c.strip() for c in ledger.ENTRY_COLUMNS.split(",")]
    return [Jsonb(row[c]) if c in ("payload", "metadata") else row[c] for c in cols]


def kinds(report):
    return {(f.kind, f.seq) for f in report.findings}
