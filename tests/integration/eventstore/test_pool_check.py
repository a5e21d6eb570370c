"""A pooled connection's check: no query for a live one, a lost one refused (pool_check.py)."""

from __future__ import annotations

import select
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.common.pool_check import check_idle
from tests.support.poll import eventually


@pytest.fixture
def checked(migrated_database_url: str) -> Iterator[ConnectionPool]:
    """A one-connection pool checked as services' pools are (nameko_ext/database.py)."""
    with ConnectionPool(
        migrated_database_url, min_size=1, max_size=1, check=check_idle, open=True
    ) as p:
        yield p


def _last_query(admin: psycopg.Connection, pid: int) -> tuple[object, ...]:
    """What the backend ran last and when it started it."""
    last = "SELECT query, query_start FROM pg_stat_activity WHERE pid = %s"
    row = admin.execute(last, (pid,)).fetchone()
    assert row is not None
    return tuple(row)


def test_a_live_idle_connection_is_checked_without_a_query(
    checked: ConnectionPool, migrated_database_url: str
) -> None:
    with checked.connection() as conn:
        conn.execute("SELECT 'marker'")
        pid = conn.info.backend_pid
    with psycopg.connect(migrated_database_url, autocommit=True) as admin:
        before = _last_query(admin, pid)
        with checked.connection() as conn:  # the check runs here
            assert conn.info.backend_pid == pid
            assert _last_query(admin, pid) == before
            ConnectionPool.check_connection(conn)  # the pool's own check does run a query
            assert _last_query(admin, pid) != before


def test_a_terminated_connection_is_replaced_not_handed_out(
    checked: ConnectionPool, migrated_database_url: str
) -> None:
    with checked.connection() as conn:
        pid = conn.info.backend_pid
    with psycopg.connect(migrated_database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s"
        eventually(lambda: admin.execute(gone, (pid,)).fetchone()[0], what="backend gone")
    with checked.connection(timeout=10) as conn:
        assert conn.info.backend_pid != pid
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_anything_to_read_on_an_idle_connection_is_checked_with_a_query(
    checked: ConnectionPool, migrated_database_url: str
) -> None:
    """A FATAL can be readable before the end of the stream (the race a loaded machine showed):
    whatever waits on the socket, here a notification, makes the pool ask the server."""
    with checked.connection() as conn:
        conn.execute("LISTEN pool_check")
        conn.commit()
        pid, pooled = conn.info.backend_pid, conn
    with psycopg.connect(migrated_database_url, autocommit=True) as admin:
        admin.execute("NOTIFY pool_check")
        socket = pooled.pgconn.socket  # arrived: readable (looking consumes nothing)
        eventually(lambda: select.select([socket], [], [], 0)[0], what="the notification")
        before = _last_query(admin, pid)
        with checked.connection() as conn:
            assert conn.info.backend_pid == pid  # alive: kept, after a query
            assert _last_query(admin, pid) != before
