"""EventStore: optimistic, idempotent appends; stream reads; the gap-free global log."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar, runtime_checkable

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import RowMaker
from psycopg_pool import PoolClosed

from services.common.eventstore import append_codec, statements
from services.common.eventstore.after_commit import AfterCommitConnection, after_commit
from services.common.eventstore.models import (
    AppendResult,
    ConcurrencyError,
    LogCursor,
    NewEvent,
    RawRecordedEvent,
    RecordedEvent,
)
from services.common.eventstore.wakeup import WAKEUPS, Notifier
from services.common.metrics import EVENTS_APPENDED

Row = TypeVar("Row", bound=tuple[Any, ...])

Connection = psycopg.Connection[Any]

# Raised by the unique keys when a concurrent append committed first: the world moved under
# the statement's snapshot. A serializable session reports the same clash as 40001, and two
# transactions appending to the same streams in opposite orders may deadlock: all mean retry.
_CLASHES = (
    psycopg.errors.UniqueViolation,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)

CLASHED = "a concurrent append committed first; this transaction is aborted: retry it"


@runtime_checkable
class ConnectionSource(Protocol):
    """What the store needs from a psycopg_pool.ConnectionPool."""

    def connection(self) -> AbstractContextManager[Connection]: ...


class _Factory:
    """Adapts a zero-argument connection factory to the pool's interface."""

    def __init__(self, factory: Callable[[], Connection]) -> None:
        self._factory = factory

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        with self._factory() as conn:  # commits (or rolls back) and closes on exit
            yield conn


class EventStore:
    """One service's events table: the truth and the outbox (DESIGN.md, principle 1).

    ordering="xid" (the default) reads the global log by (transaction_id, position) below the
    snapshot's xmin: gap-free with any number of concurrent writers. ordering="lock" takes a
    writers' lock per schema and reads by position alone; it exists to be measured against.
    Every writer and reader of a schema must use the same ordering.
    """

    def __init__(
        self,
        pool: ConnectionSource | Callable[[], Connection],
        schema: str,
        *,
        ordering: statements.Ordering = "xid",
        max_attempts: int = 5,
    ) -> None:
        self._pool: ConnectionSource = (
            pool if isinstance(pool, ConnectionSource) else _Factory(pool)
        )
        self.schema = schema
        self.ordering = ordering
        self._sql = statements.build(schema, ordering)
        self._max_attempts = max_attempts
        self._notifier = Notifier(self._notify)
        # The one-event append (migration 0034); off under the writers' lock, or once a
        # database without it answers (code rolled out before its migration).
        self._one = self._sql.append_one is not None

    def append(
        self, stream_id: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> AppendResult:
        """Append in a transaction of its own; expected_version None = any, 0 = new stream.

        Raises ConcurrencyError when the stream is not at expected_version, and
        IdempotencyConflict when only some of the event ids are stored already. Appending
        events that are all stored already returns their original positions.
        """
        if len(events) == 1 and self._one:
            appended = self._append_one(stream_id, events[0], expected_version)
            if appended is not None:
                return appended
        params = append_codec.params(stream_id, events, expected_version)
        for _ in range(self._max_attempts):
            with self._pool.connection() as conn, _single_statement(conn):
                database = conn.info.dbname
                try:
                    row = conn.execute(self._append_sql(conn), params).fetchone()
                except _CLASHES:
                    # Another append won the race on a unique key. Try again on a fresh
                    # snapshot: it will see the winner and say whether this is an idempotent
                    # retry (same ids), a version clash, or (expected None) the next version.
                    continue
            result = append_codec.result(row, stream_id, expected_version)
            if not result.already_stored:
                self._committed(database, events)  # autocommit: committed by now
            return result
        raise ConcurrencyError(stream_id, expected_version, -1, reason=f"kept clashing: {CLASHED}")

    def _append_one(
        self, stream_id: str, event: NewEvent, expected_version: int | None
    ) -> AppendResult | None:
        """The common case in one INSERT; None when it did not insert (a version refusal, a
        stored id, a clash): append_events then says which, on a fresh snapshot."""
        params = append_codec.one(stream_id, event, expected_version)
        with self._pool.connection() as conn, _single_statement(conn):
            database = conn.info.dbname
            try:
                row = conn.execute(self._sql.append_one, params).fetchone()  # type: ignore[arg-type]
            except _CLASHES:
                return None
            except psycopg.errors.UndefinedFunction:
                self._one = False  # not migrated yet: append_events does it all, as before
                return None
        if row is None or row[0] is None:
            return None
        self._committed(database, (event,))  # autocommit: committed by now
        return AppendResult((row[0],), row[1])

    def append_in(
        self,
        conn: Connection,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int | None,
    ) -> AppendResult:
        """Append inside the caller's transaction, e.g. with the processed_events row it justifies.

        A version or idempotency refusal changes nothing and leaves the transaction usable. A
        clash with a concurrent commit, or the rare stale-xid case (append_codec.STALE_XID), raises
        ConcurrencyError: roll back and retry the whole unit of work in a new transaction.
        """
        params = append_codec.params(stream_id, events, expected_version)
        try:
            row = conn.execute(self._append_sql(conn), params).fetchone()
        except _CLASHES as exc:
            raise ConcurrencyError(stream_id, expected_version, -1, reason=CLASHED) from exc
        result = append_codec.result(row, stream_id, expected_version)
        if not result.already_stored:
            # Counted when the caller's transaction commits: a unit of work that rolls back
            # (a lost race rerun, a refused check) appended nothing.
            after_commit(conn, partial(self._committed, conn.info.dbname, events))
        return result

    def _append_sql(self, conn: Connection) -> str:
        """The append; with a NOTIFY inside only when its commit is invisible here (wakeup.py)."""
        if isinstance(conn, AfterCommitConnection) or (
            conn.autocommit and conn.pgconn.transaction_status == TransactionStatus.IDLE
        ):
            return self._sql.append
        return self._sql.append_notify

    def _committed(self, database: str, events: Sequence[NewEvent]) -> None:
        """Once the events are committed: carnet_events_appended_total, and wake the relay."""
        for event in events:
            EVENTS_APPENDED.labels(self.schema, event.event_type).inc()
        if WAKEUPS.leads_here(database, self.schema):
            WAKEUPS.committed(database, self.schema)
        else:
            self._notifier.due()

    def _notify(self) -> None:
        """One NOTIFY for the relay, in a transaction of its own (Notifier); none once the
        store's pool is closed (the process is stopping: the relay's poll covers it)."""
        try:
            with self._pool.connection() as conn, _single_statement(conn):
                conn.execute(self._sql.notify)
        except PoolClosed:
            return

    def read_stream(
        self,
        stream_id: str,
        from_version: int = 1,
        to_version: int | None = None,
        as_of: datetime | None = None,
    ) -> list[RecordedEvent]:
        """A stream's events in version order; as_of keeps those recorded at or before it.

        recorded_at is the insert time (clock_timestamp()), not the commit time.
        """
        params = {
            "stream_id": stream_id,
            "from_version": from_version,
            "to_version": to_version,
            "as_of": as_of,
        }
        return self._fetch_events(self._sql.read_stream, params)

    def read_all(self, after: LogCursor, limit: int = 1000) -> list[RecordedEvent]:
        """The next events of the global log after `after`, never skipping a late commit.

        Under ordering="xid", events of transactions still running, or newer than the oldest
        one still running, are held back until that one ends (ADR 0003): a long transaction
        delays readers, it never makes them lose an event.
        """
        params = {
            "transaction_id": after.transaction_id,
            "position": after.position,
            "limit": limit,
        }
        return self._fetch_events(self._sql.read_all, params)

    def read_all_raw(self, after: LogCursor, limit: int = 1000) -> list[RawRecordedEvent]:
        """read_all, with each event's data as its stored JSON text: what the relay sends.

        The relay publishes the payload as the body, so it skips decoding it into a dict and
        encoding it again (jsonb's text form: key order and spacing are PostgreSQL's).
        """
        params = {
            "transaction_id": after.transaction_id,
            "position": after.position,
            "limit": limit,
        }
        return self._fetch_events(self._sql.read_all_raw, params, RawRecordedEvent)

    def head(self) -> LogCursor:
        """The cursor of the last event read_all can return now (start() when none)."""
        with self._pool.connection() as conn, _single_statement(conn):
            row = conn.execute(self._sql.head, prepare=False).fetchone()
        return LogCursor(*row) if row else LogCursor.start()

    def count_pending_after(self, cursor: LogCursor) -> int:
        """Committed events after `cursor`, readable yet or held back: a reader's lag."""
        params = {"transaction_id": cursor.transaction_id, "position": cursor.position}
        with self._pool.connection() as conn, _single_statement(conn):
            row = conn.execute(self._sql.count_after, params, prepare=False).fetchone()
        return int(row[0]) if row else 0

    def _fetch_events(
        self, query: str, params: dict[str, Any], row: type[Row] = RecordedEvent
    ) -> list[Row]:
        with (
            self._pool.connection() as conn,
            _single_statement(conn),
            conn.cursor(row_factory=partial(_tuple_rows, row)) as cur,
        ):
            # Not prepared: a generic plan made while the table was small would keep a
            # sequential scan as it grows; planned each time, the index is chosen.
            return cur.execute(query, params, prepare=False).fetchall()


def _tuple_rows(row: type[Row], _cursor: object) -> RowMaker[Row]:
    """Row factory building a NamedTuple from the row's values with tuple.__new__, in C.

    The columns are the NamedTuple's fields in order; skipping its Python-level __new__
    (and args_row's call per row) makes a row cost about what a plain tuple costs.
    """
    return partial(tuple.__new__, row)


@contextmanager
def _single_statement(conn: Connection) -> Iterator[None]:
    """Run one statement as its own transaction: autocommit spares the BEGIN and COMMIT trips.

    Every store operation is a single statement, hence atomic on its own.
    """
    if conn.autocommit:
        yield
        return
    conn.autocommit = True
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.autocommit = False
