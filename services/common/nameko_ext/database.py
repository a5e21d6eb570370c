"""A psycopg connection pool per service container, opened after the database answers."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from nameko.extensions import DependencyProvider
from psycopg_pool import ConnectionPool

from services.common.database_settings import DatabaseSettings
from services.common.eventstore.after_commit import AfterCommitConnection
from services.common.pool_check import check_idle
from services.common.retry import wait_until_available


def _ping(url: str) -> None:
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute("SELECT 1")


class DatabasePool(DependencyProvider):
    """Hands each worker the container's pool; waits (with backoff) for PostgreSQL at start."""

    def __init__(self) -> None:
        self.pool: ConnectionPool | None = None

    def setup(self) -> None:
        """Build the pool closed, sized by the config; nothing connects until start()."""
        settings = DatabaseSettings.from_config(self.container.config)
        self.url = settings.url
        self._stopping = threading.Event()
        self._opened = threading.Event()
        self.pool = ConnectionPool(
            self.url,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            open=False,
            name=f"{self.container.service_name}-db",
            kwargs=settings.pool_kwargs(self.container.service_name),
            # After a PostgreSQL restart every idle connection is dead: check each one as it
            # is handed out, so a handler waits for a live one instead of failing at once,
            # without a query per checkout (pool_check.py).
            check=check_idle,
            # Counts what a commit made true (events appended): eventstore/after_commit.py.
            connection_class=AfterCommitConnection,
        )

    def start(self) -> None:
        """Block the container's start until the database answers, logging each retry."""
        wait_until_available(
            lambda: _ping(self.url),
            "postgresql",
            sleep=self._stopping.wait,
            cancelled=self._stopping.is_set,
        )
        assert self.pool is not None
        self.pool.open(wait=True, timeout=30)
        self._opened.set()

    def stop(self) -> None:
        """Close every connection; in-flight workers have finished by now."""
        self._stopping.set()
        if self.pool is not None:
            self.pool.close()

    def kill(self) -> None:
        """Same as stop: a killed container must not leak connections."""
        self.stop()

    def get_dependency(self, worker_ctx: Any) -> ConnectionPool:
        """The pool itself: handlers take a connection for exactly one transaction.

        Event consumers start only once it is open (wait_until_open, raw_queue.py). HTTP
        workers are not held: health answers 503 at once while the database is away.
        """
        assert self.pool is not None
        return self.pool


def wait_until_open(container: Any) -> bool:
    """True once the container's pool has opened (at once without a pool); False if the
    container stops first.

    nameko starts every extension at once, so without this a consumer took messages while
    the database was still awaited, and each waited or failed (a restarted audit replica
    failed ten once: #24). Readiness gates consumption instead: nothing is taken before.
    """
    db = next((d for d in container.dependencies if isinstance(d, DatabasePool)), None)
    if db is None:
        return True
    while not db._opened.wait(0.5):
        if db._stopping.is_set():
            return False
    return True


def pool_of(container: Any) -> ConnectionPool | None:
    """The pool of a container's DatabasePool (other providers share it, never open their own)."""
    db = next(d for d in container.dependencies if isinstance(d, DatabasePool))
    return db.pool
