"""The relay's leader: one per service, by a session advisory lock on a primary's connection."""

from __future__ import annotations

import psycopg

from services.common.pool_check import check_idle


class NotPrimary(Exception):
    """The relay's database is a standby: its log may lag the primary's, and a failover
    could lose what it had not replicated yet after the relay published it."""


class Leadership:
    """Session advisory lock on a dedicated connection: held while the connection lives.

    If the leader dies, PostgreSQL drops its session and the lock with it, so a standby's
    next try succeeds: take-over time is the standby's poll interval plus the TCP timeout.
    """

    def __init__(self, database_url: str, schema: str) -> None:
        self.database_url = database_url
        self.key = f"carnet.relay.{schema}"
        self.conn: psycopg.Connection | None = None

    def try_acquire(self) -> bool:
        """True if this process now holds the lock; NotPrimary on a standby (never leads)."""
        if self.conn is None or self.conn.closed:
            conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
            standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if standby and standby[0]:
                where = f"{conn.info.host}:{conn.info.port}"
                conn.close()
                raise NotPrimary(
                    f"{where} is a standby: the relay publishes from the primary only "
                    "(RELAY_DATABASE_URL, docs/deploy.md)"
                )
            self.conn = conn
        row = self.conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self.key,)
        ).fetchone()
        return bool(row and row[0])

    def still_held(self) -> bool:
        """Liveness of the lock's session before each batch, without a query (pool_check)."""
        try:
            assert self.conn is not None
            check_idle(self.conn)
        except Exception:
            return False
        return True

    def release(self) -> None:
        """Closing the session releases the lock."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
