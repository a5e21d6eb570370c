"""Callbacks that run once the transaction that registered them has committed, never otherwise.

psycopg has no commit hook, and `carnet_events_appended_total` must count events that exist:
an append inside a unit of work that later rolls back (a lost race, a failed check) was never
appended. `AfterCommitConnection` is the connection class of every service's pool
(nameko_ext/database.py); `after_commit(conn, callback)` is how a store registers work on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import Transaction
from psycopg.pq import TransactionStatus

Callback = Callable[[], None]


class AfterCommitConnection(psycopg.Connection[Any]):
    """A psycopg connection that remembers callbacks per transaction level.

    One frame per open `transaction()` block above a base frame for the implicit transaction.
    A block whose savepoint is released hands its callbacks to the enclosing frame; one rolled
    back drops them; the outermost commit (a block's COMMIT or `commit()`) runs them all.
    """

    @property
    def _frames(self) -> list[list[Callback]]:
        frames: list[list[Callback]] | None = self.__dict__.get("_after_commit_frames")
        if frames is None:
            frames = self.__dict__["_after_commit_frames"] = [[]]
        return frames

    def after_commit(self, callback: Callback) -> None:
        """Run `callback` when the current transaction commits; forget it if it rolls back."""
        self._frames[-1].append(callback)

    def commit(self) -> None:
        """COMMIT, then run what the transaction registered."""
        super().commit()
        self._run_all()

    def rollback(self) -> None:
        """ROLLBACK, and forget what the transaction registered."""
        try:
            super().rollback()
        finally:
            self._frames[:] = [[]]

    @contextmanager
    def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> Iterator[Transaction]:
        """psycopg's transaction block, with a frame of callbacks that lives and dies with it."""
        frames = self._frames
        frame: list[Callback] = []
        frames.append(frame)
        body_ok = False
        try:
            with super().transaction(savepoint_name, force_rollback) as tx:
                yield tx
                body_ok = True  # not reached when the body raised (psycopg's Rollback included)
        finally:
            frames.remove(frame)
        if not body_ok or force_rollback:
            return  # rolled back (to the savepoint, or the whole transaction)
        status = self.pgconn.transaction_status
        if status == TransactionStatus.INTRANS:
            frames[-1].extend(frame)  # a savepoint released: the enclosing transaction decides
        elif status == TransactionStatus.IDLE:
            frames[-1].extend(frame)  # the outermost block committed
            self._run_all()

    def _run_all(self) -> None:
        callbacks = [cb for frame in self._frames for cb in frame]
        self._frames[:] = [[]]
        for callback in callbacks:
            callback()


def after_commit(conn: Any, callback: Callback) -> bool:
    """Run `callback` once what `conn` just did is committed; False when that cannot be known.

    Already committed (autocommit, or nothing open): now. An `AfterCommitConnection` in a
    transaction: at its commit. Any other connection in a transaction: never (its commit is
    invisible here, and counting a rollback would be worse than not counting).
    """
    if conn.pgconn.transaction_status == TransactionStatus.IDLE:
        callback()
        return True
    if isinstance(conn, AfterCommitConnection):
        conn.after_commit(callback)
        return True
    return False
