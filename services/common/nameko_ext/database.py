"""A psycopg connection pool per service container, opened after the database answers."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from nameko.extensions import DependencyProvider
from psycopg_pool import ConnectionPool

from services.common.database_settings import DatabaseSettings
from services.common.eventstore.after_commit import AfterCommitConnection
from services.common.nameko_ext.consumer import EventConsumer
from services.common.pool_check import check_idle
from services.common.retry import wait_until_available

# A consumer's worker waits this long for the pool to open, then fails (requeued, as before):
# short enough not to hold a container's stop for long (nameko stops providers last).
OPEN_WAIT_S = 10.0


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
        """The pool itself, once open: handlers take a connection for exactly one transaction.

        nameko starts entrypoints beside dependencies, so a consumer may be handed a message
        while the database is still awaited: its worker waits for the pool here rather than
        failing ("pool not open yet") and spending one of the message's attempts on it. HTTP
        workers do not wait: health answers 503 at once while the database is away.
        """
        assert self.pool is not None
        if self._opened.is_set() or not isinstance(worker_ctx.entrypoint, EventConsumer):
            return self.pool
        deadline = time.monotonic() + OPEN_WAIT_S
        while not self._opened.wait(0.1):
            if self._stopping.is_set() or time.monotonic() > deadline:
                break  # the handler fails on the closed pool: requeued, as before
        return self.pool


def pool_of(container: Any) -> ConnectionPool | None:
    """The pool of a container's DatabasePool (other providers share it, never open their own)."""
    db = next(d for d in container.dependencies if isinstance(d, DatabasePool))
    return db.pool
