"""Pooled connections checked without a round trip: a dead socket reads as closed."""

from __future__ import annotations

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool


def check_idle(conn: psycopg.Connection) -> None:
    """Raise if `conn` is dead; a live idle connection costs no query (was `SELECT ''` each time).

    A restarted or terminated server leaves the socket readable: libpq reads its last notice,
    then the end of the stream, and the second read fails. Only a connection that is not
    plainly idle after that is checked with a query, as the pool does by default."""
    pgconn = conn.pgconn
    try:
        pgconn.consume_input()
        pgconn.consume_input()
    except pq.PQerror as error:
        raise psycopg.OperationalError(f"connection lost: {error}") from None
    idle = (
        not conn.closed
        and pgconn.status == pq.ConnStatus.OK
        and pgconn.transaction_status == pq.TransactionStatus.IDLE
    )
    if not idle:
        ConnectionPool.check_connection(conn)
