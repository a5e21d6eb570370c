"""The access index as a projection `carnet replay rebuild audit.access_index` can rebuild."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from services.audit import access_index
from services.common.projections.spec import Batch, Cursor, Projection, Tables


class LedgerSource:
    """audit.ledger by seq: gap-free by construction (ADR 0006), so committed is gap-free too."""

    def start(self) -> Cursor:
        """Before seq 1."""
        return [0]

    def read(self, conn: Connection, after: Cursor, limit: int) -> Batch:
        """The next ledger rows, access records with their payloads; a hole stops the read."""
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(access_index.LEDGER_PAGE, (after[0], limit)).fetchall()
        for offset, row in enumerate(rows):
            if row["seq"] != after[0] + 1 + offset:
                raise access_index.LedgerGap(after[0] + 1 + offset)
        if not rows:
            return Batch([], list(after), 0)
        return Batch(rows, [int(rows[-1]["seq"])], len(rows))

    def read_committed(self, conn: Connection, after: Cursor, limit: int) -> Batch:
        """The same: a seq is only ever visible after every lower one."""
        return self.read(conn, after, limit)

    def remaining(self, conn: Connection, after: Cursor) -> int:
        """Ledger rows past the cursor."""
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit.ledger").fetchone()
        return max(0, int(row[0]) - after[0]) if row else 0


def _apply(conn: Connection, rows: Sequence[Any], tables: Tables) -> None:
    access_index.index_rows(conn, rows, tables)


def _lock_writers(conn: Connection) -> None:
    """Hold the index's position row: every catch-up (timer, query, replica) waits on it."""
    conn.execute(
        "INSERT INTO audit.projection_positions (name, seq) VALUES (%s, 0)"
        " ON CONFLICT (name) DO NOTHING",
        (access_index.NAME,),
    )
    conn.execute(
        "SELECT seq FROM audit.projection_positions WHERE name = %s FOR UPDATE",
        (access_index.NAME,),
    )


def _after_swap(conn: Connection, cursor: Cursor) -> None:
    """The swapped-in tables hold the ledger up to the cursor: the position says so."""
    conn.execute(
        "UPDATE audit.projection_positions SET seq = %s, updated_at = now() WHERE name = %s",
        (cursor[0], access_index.NAME),
    )


PROJECTION = Projection(
    name="audit.access_index",
    description="access_requests + access_entries + access_targets, from the access records",
    tables=(access_index.REQUESTS, access_index.ENTRIES, access_index.TARGETS),
    source=LedgerSource(),
    apply=_apply,
    lock_writers=_lock_writers,
    after_swap=_after_swap,
)
