"""Booking's views as a projection `carnet replay rebuild booking.views` can rebuild."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import Connection

from contracts.registry import REGISTRY
from services.booking import readmodels, readmodels_fold
from services.common.eventstore.models import LogCursor
from services.common.projections.event_log import EventLogSource, LogEvent
from services.common.projections.spec import Cursor, Projection, Tables


def _apply(conn: Connection, events: Sequence[LogEvent], tables: Tables) -> None:
    """Fold events upcast to the latest contract, a batch at a time (readmodels_fold)."""
    latest = {kind: REGISTRY.latest_version(kind) for kind in readmodels.FOLDED_TYPES}
    upcast = [
        e
        if e.schema_version == latest[e.event_type]
        else e._replace(data=REGISTRY.upcast(e.event_type, e.schema_version, e.data)[1])
        for e in events
    ]
    readmodels_fold.fold(conn, upcast, tables)


def _lock_writers(conn: Connection) -> None:
    """Commands write the read models in their own transaction; the lock stops them until the swap.

    ACCESS EXCLUSIVE at once, not EXCLUSIVE then the rename's upgrade: a command queued
    between the two would deadlock with the upgrade. Readers wait for the swap too (the
    lock is held for the catch-up under it, reported as lock_seconds).
    """
    conn.execute(
        f"LOCK TABLE {readmodels.SLOTS}, {readmodels.APPOINTMENTS} IN ACCESS EXCLUSIVE MODE"
    )


def _after_swap(conn: Connection, cursor: Cursor) -> None:
    readmodels.record_position(conn, LogCursor(cursor[0], cursor[1]))


PROJECTION = Projection(
    name="booking.views",
    description="booking.slots + booking.appointments, from booking's log",
    tables=(readmodels.SLOTS, readmodels.APPOINTMENTS),
    source=EventLogSource("booking", readmodels.FOLDED_TYPES),
    apply=_apply,
    lock_writers=_lock_writers,
    after_swap=_after_swap,
)
