"""A service's global event log as a rebuild source: gap-free, keyset-paged, payloads on demand."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from psycopg import Connection

from services.common.projections.spec import Batch, Cursor

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LogEvent(NamedTuple):
    """One event of the log a projection folds; `data` is None for types it does not read."""

    event_type: str
    schema_version: int
    data: dict[str, Any] | None
    stream_version: int
    occurred_at: datetime  # metadata occurred_at (when the fact happened), else recorded_at


class EventLogSource:
    """`<schema>.events` in (transaction_id, position) order, as the relay reads it (ADR 0003).

    Every row of a page moves the cursor, but only the types the projection folds have their
    payload read: most of booking's log is access records, large and toasted, which the views
    never look at, so a page of them costs index and heap reads, not detoasting.
    """

    def __init__(self, schema: str, types: Iterable[str]) -> None:
        if not _SCHEMA.match(schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        self.types = sorted(set(types))
        self._wanted = frozenset(self.types)
        columns = (
            "e.transaction_id::text::int8, e.position, e.event_type, e.schema_version,"
            " CASE WHEN e.event_type = ANY(%(types)s) THEN e.data END,"
            " e.stream_version,"
            " coalesce((e.metadata ->> 'occurred_at')::timestamptz, e.recorded_at)"
        )
        after = "(e.transaction_id, e.position) > (%(xid)s::text::xid8, %(position)s::int8)"
        gap_free = "AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
        page = "ORDER BY e.transaction_id, e.position LIMIT %(limit)s"
        events = f'"{schema}".events e'
        self._read = f"SELECT {columns} FROM {events} WHERE {after} {gap_free} {page}"
        self._read_committed = f"SELECT {columns} FROM {events} WHERE {after} {page}"
        self._remaining = f"SELECT count(*) FROM {events} WHERE {after}"

    def start(self) -> Cursor:
        """Before the first event."""
        return [0, 0]

    def read(self, conn: Connection, after: Cursor, limit: int) -> Batch:
        """The next page below the oldest running transaction: no later commit can precede it."""
        return self._page(conn, self._read, after, limit)

    def read_committed(self, conn: Connection, after: Cursor, limit: int) -> Batch:
        """The next committed page; only gap-free while the live writers are locked out."""
        return self._page(conn, self._read_committed, after, limit)

    def remaining(self, conn: Connection, after: Cursor) -> int:
        """Committed events after the cursor."""
        row = conn.execute(self._remaining, {"xid": str(after[0]), "position": after[1]}).fetchone()
        return int(row[0]) if row else 0

    def _page(self, conn: Connection, sql: str, after: Cursor, limit: int) -> Batch:
        params = {"types": self.types, "xid": str(after[0]), "position": after[1], "limit": limit}
        rows = conn.execute(sql, params, prepare=False).fetchall()
        if not rows:
            return Batch([], list(after), 0)
        wanted = self._wanted
        items = [LogEvent(*r[2:]) for r in rows if r[2] in wanted]
        last = rows[-1]
        return Batch(items, [int(last[0]), int(last[1])], len(rows))
