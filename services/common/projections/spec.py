"""What a rebuildable projection declares: its live tables, its source, how it applies and swaps."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg import Connection

# A source's cursor, as stored in the rebuild's state row (JSON): [xid, position] or [seq].
Cursor = list[int]
Tables = Mapping[str, str]  # live table name -> the table to write (itself, or its shadow)


@dataclass(frozen=True)
class Batch:
    """Items read from a source, and the cursor after the last one read (items may be filtered)."""

    items: Sequence[Any]
    cursor: Cursor
    scanned: int  # source rows the batch covers, filtered out or not: for rates and ETAs


class Source(Protocol):
    """An ordered, gap-free log a projection is a fold of."""

    def start(self) -> Cursor:
        """The cursor before the first item."""
        ...

    def read(self, conn: Connection, after: Cursor, limit: int) -> Batch:
        """The next items that can never be preceded by a later commit (gap-free)."""
        ...

    def read_committed(self, conn: Connection, after: Cursor, limit: int) -> Batch:
        """The next committed items, gap-free or not: only while live writers are locked out."""
        ...

    def remaining(self, conn: Connection, after: Cursor) -> int:
        """Committed source rows after `after` (what the projection is behind by)."""
        ...


@dataclass(frozen=True)
class Projection:
    """A read model that `carnet replay rebuild` can rebuild into shadow tables and swap in.

    `tables` are schema-qualified live tables, parents before children (foreign keys).
    `apply(conn, items, tables)` folds source items into `tables[live_name]`.
    `lock_writers(conn)` stops the live writers until the transaction ends;
    `after_swap(conn, cursor)` moves whatever position the live writers keep.
    """

    name: str
    description: str
    tables: tuple[str, ...]
    source: Source
    apply: Callable[[Connection, Sequence[Any], Tables], None]
    lock_writers: Callable[[Connection], None]
    after_swap: Callable[[Connection, Cursor], None] = field(default=lambda _c, _p: None)

    @property
    def schema(self) -> str:
        """The schema of the projection's tables (and of its rebuild's state row)."""
        return self.tables[0].split(".", 1)[0]
