"""Where a relay got to: `<schema>.relay_position`, saved only once the broker confirmed it."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from services.common.eventstore.models import LogCursor

SAVE_EVERY_S = 1.0


class Position:
    """A relay's saved cursor, on a connection of its own (autocommit: each save commits)."""

    def __init__(
        self, database_url: str, schema: str, name: str, save_every: float = SAVE_EVERY_S
    ) -> None:
        self.database_url, self.schema, self.name = database_url, schema, name
        self.save_every = save_every
        self.conn: psycopg.Connection | None = None
        self.unsaved: LogCursor | None = None  # confirmed, not yet recorded
        self._saved_at: float | None = None  # never: the first confirmed cursor is saved at once

    def _conn(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.database_url, autocommit=True)
        return self.conn

    def load(self) -> LogCursor:
        """Where the last saved batch ended (the start of the log if never run)."""
        row = (
            self._conn()
            .execute(
                sql.SQL(
                    "SELECT transaction_id::text::bigint, position FROM {}.relay_position "
                    "WHERE relay = %s"
                ).format(sql.Identifier(self.schema)),
                (self.name,),
            )
            .fetchone()
        )
        return LogCursor(row[0], row[1]) if row else LogCursor.start()

    def save_if_due(self, cursor: LogCursor, force: bool = False) -> None:
        """Record a confirmed cursor at most every `save_every` seconds (and when stopping).

        A leader that dies republishes what it confirmed since its last save; consumers are
        idempotent, so that costs redeliveries, never an event: a commit per batch is not
        worth it (ADR 0005)."""
        self.unsaved = cursor
        # Not "0.0": monotonic time starts near the machine's boot, so a host up for less than
        # `save_every` would not save its first cursor (the CI machine, minutes after boot).
        due = self._saved_at is None or time.monotonic() - self._saved_at >= self.save_every
        if force or due:
            self.save(cursor)
            self.unsaved, self._saved_at = None, time.monotonic()

    def save(self, cursor: LogCursor) -> None:
        """Recorded only after the broker confirmed everything up to `cursor`."""
        self._conn().execute(
            sql.SQL(
                "INSERT INTO {}.relay_position (relay, transaction_id, position, updated_at) "
                "VALUES (%s, %s::text::xid8, %s, now()) ON CONFLICT (relay) DO UPDATE SET "
                "transaction_id = excluded.transaction_id, position = excluded.position, "
                "updated_at = excluded.updated_at"
            ).format(sql.Identifier(self.schema)),
            (self.name, str(cursor.transaction_id), cursor.position),
        )

    def close(self) -> None:
        """Forget what was not saved (the next leader starts from the last save); disconnect."""
        self.unsaved = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
