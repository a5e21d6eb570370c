"""Pooled connections checked without a round trip: a live idle socket has nothing to read."""

from __future__ import annotations

import select

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool


def check_idle(conn: psycopg.Connection) -> None:
    """Raise if `conn` is dead; a live idle connection costs no query (was `SELECT ''` each time).

    Nothing is sent to an idle pooled connection, so anything to read on its socket is news:
    a terminated backend's FATAL, the end of the stream of a restarted server (its FATAL can
    be read before its end, so reading alone missed a connection terminated a moment ago).
    Then, and for a connection that is not plainly idle, the pool's own check (a query) decides.
    """
    pgconn = conn.pgconn
    idle = (
        not conn.closed
        and pgconn.status == pq.ConnStatus.OK
        and pgconn.transaction_status == pq.TransactionStatus.IDLE
    )
    if idle:
        try:
            readable = bool(select.select([pgconn.socket], [], [], 0)[0])
        except ValueError:  # a descriptor past select()'s limit (a process eventlet left alone)
            readable = True
        except (OSError, psycopg.OperationalError) as error:
            raise psycopg.OperationalError(f"connection lost: {error}") from None
        if not readable:
            return
    ConnectionPool.check_connection(conn)
