"""Fill a projection's shadow tables from its source, catch up under a short lock, swap them in.

Batches commit one by one with the cursor (resumable after any interruption). The swap
locks the live writers out, applies what committed since the last batch (at most
`max_lock_catch_up` items, else it refuses: a long lock would stall the service) until the
shadow holds everything the live writers committed, and renames, all in one transaction
(ADR 0011).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

from psycopg import Connection, errors

from services.common.logging import get_logger
from services.common.projections.spec import Batch, Cursor, Projection
from services.ops import shadow

log = get_logger(__name__)


class RefusedSwap(RuntimeError):
    """The shadow is not where the live tables are: the swap would lose rows, so it is refused."""


@dataclass
class Outcome:
    """What one run did."""

    projection: str
    resumed: bool
    scanned: int = 0  # source rows read by this run
    applied: int = 0  # items this run folded into the shadow
    caught_up_under_lock: int = 0
    lock_seconds: float = 0.0
    seconds: float = 0.0
    swapped: bool = False
    rows: dict[str, int] = field(default_factory=dict)  # the new tables' rows


@dataclass
class Plan:
    """What a run would do (`--dry-run`): nothing is written to compute it."""

    projection: str
    tables: dict[str, int]  # live rows
    resume_from: Cursor | None
    shadow_rows: dict[str, int]
    to_scan: int
    fingerprint_changed: bool


class Rebuild:
    """One projection's rebuild over connections from `connect` (autocommit ones are made)."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        projection: Projection,
        batch: int = 2000,
        max_lock_catch_up: int = 5000,
        lock_timeout_s: float = 5.0,
        progress: Callable[[int, int], object] = lambda _done, _total: None,
    ) -> None:
        self.connect, self.projection, self.batch = connect, projection, batch
        self.max_lock_catch_up, self.lock_timeout_s = max_lock_catch_up, lock_timeout_s
        self.progress = progress
        self.shadows = {t: shadow.shadow_of(t) for t in projection.tables}

    def plan(self) -> Plan:
        """Live rows, where a resume would start and how much is left to read."""
        p = self.projection
        with closing(self._open()) as conn, conn.transaction():
            state = shadow.load(conn, p)
            cursor = state.cursor if state else p.source.start()
            return Plan(
                projection=p.name,
                tables={t: _count(conn, t) for t in p.tables},
                resume_from=state.cursor if state else None,
                shadow_rows=shadow.shadow_rows(conn, p) if state else {},
                to_scan=p.source.remaining(conn, cursor),
                fingerprint_changed=bool(
                    state and state.fingerprint != shadow.fingerprint(conn, p)
                ),
            )

    def abandon(self) -> None:
        """Drop the shadows and the state of an unfinished rebuild."""
        with closing(self._open()) as conn, conn.transaction():
            shadow.drop(conn, self.projection)

    def run(self, swap: bool = True, restart: bool = False) -> Outcome:
        """Fill (or resume) the shadow, then swap it in unless `swap` is False."""
        started, p = time.monotonic(), self.projection
        with closing(self._open()) as conn:
            with conn.transaction():
                state = shadow.load(conn, p)
                if state and restart:
                    shadow.drop(conn, p)
                    state = None
                if state and state.fingerprint != shadow.fingerprint(conn, p):
                    raise RefusedSwap(
                        f"{p.name}: the live tables changed since this rebuild started"
                        " (a migration?): start again with --restart"
                    )
                outcome = Outcome(p.name, resumed=state is not None)
                if state is None:
                    state = shadow.create(conn, p, p.source.start())
                cursor, done = state.cursor, state.scanned
                total = done + p.source.remaining(conn, cursor)
            log.info("projection.rebuild_started", projection=p.name, resumed=outcome.resumed,
                     from_cursor=cursor, to_scan=total - done)  # fmt: skip
            while True:
                with conn.transaction():
                    batch = p.source.read(conn, cursor, self.batch)
                    if not batch.scanned:
                        break
                    self._fold(conn, batch, outcome)
                cursor, done = batch.cursor, done + batch.scanned
                self.progress(done, max(total, done))
            if swap:
                self._swap(conn, cursor, outcome)
            with conn.transaction():
                names = p.tables if outcome.swapped else list(self.shadows.values())
                outcome.rows = {t: _count(conn, t) for t in names}
        outcome.seconds = time.monotonic() - started
        log.info("projection.rebuild_finished", projection=p.name, swapped=outcome.swapped,
                 scanned=outcome.scanned, applied=outcome.applied,
                 lock_seconds=round(outcome.lock_seconds, 3))  # fmt: skip
        return outcome

    def _swap(self, conn: Connection, cursor: Cursor, outcome: Outcome) -> None:
        """Lock the writers out, apply the last commits, refuse if too far behind, rename."""
        p = self.projection
        for attempt in range(3):
            locked = time.monotonic()
            try:
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = '{int(self.lock_timeout_s * 1000)}ms'")
                    p.lock_writers(conn)
                    behind = p.source.remaining(conn, cursor)
                    if behind > self.max_lock_catch_up:
                        raise RefusedSwap(
                            f"{p.name}: the new tables are {behind} events behind the log"
                            f" (more than {self.max_lock_catch_up} to apply under the lock);"
                            " nothing was swapped: run again, it resumes from where it stopped"
                        )
                    # Everything the live writers committed is visible now and nothing they
                    # write can commit before the swap; read it all. Rows that still commit
                    # meanwhile are ones those writers do not apply (booking's access records)
                    # or ones they apply after the swap (the ledger's rows, from the moved
                    # position): no check after this loop, and the loop is bounded by what
                    # was behind when the lock was taken (plus slack for such rows).
                    caught = 0
                    while (
                        caught <= behind + 10 * self.batch
                        and (batch := p.source.read_committed(conn, cursor, self.batch)).scanned
                    ):
                        self._fold(conn, batch, outcome)
                        cursor, caught = batch.cursor, caught + batch.scanned
                    shadow.swap(conn, p)
                    p.after_swap(conn, cursor)
                outcome.caught_up_under_lock = caught
                outcome.lock_seconds = time.monotonic() - locked
                outcome.swapped = True
                return
            except errors.LockNotAvailable:
                log.warning("projection.swap_lock_timeout", projection=p.name, attempt=attempt + 1)
        raise RefusedSwap(f"{p.name}: could not lock the live writers out in 3 tries")

    def _fold(self, conn: Connection, batch: Batch, outcome: Outcome) -> None:
        """Apply a batch to the shadows and move the cursor, in the caller's transaction."""
        if batch.items:
            with conn.pipeline():
                self.projection.apply(conn, batch.items, self.shadows)
        shadow.advance(conn, self.projection, batch.cursor, len(batch.items), batch.scanned)
        outcome.scanned += batch.scanned
        outcome.applied += len(batch.items)

    def _open(self) -> Connection:
        conn = self.connect()
        conn.autocommit = True
        return conn


def _count(conn: Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
