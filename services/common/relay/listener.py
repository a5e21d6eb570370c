"""LISTENs for appends made in other processes and wakes the relay leading here (wakeup.py)."""

from __future__ import annotations

import threading

import psycopg

from services.common.eventstore.wakeup import channel
from services.common.logging import get_logger

log = get_logger(__name__)

POLL_S = 0.25  # how soon a stopped listener notices; notifications arrive at once


class Listener:
    """A connection of its own in LISTEN, setting `flag` on each notification until stopped."""

    def __init__(self, database_url: str, schema: str, flag: threading.Event) -> None:
        self.database_url, self.schema, self.flag = database_url, schema, flag
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect and LISTEN now (so nothing committed after this is missed), then wait."""
        conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
        conn.execute(f'LISTEN "{channel(self.schema)}"')
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name=f"relay-listen-{self.schema}", daemon=True
        )
        self._thread.start()

    def _run(self, conn: psycopg.Connection) -> None:
        """Wake the relay per notification; a lost connection ends here (the relay polls)."""
        try:
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=POLL_S):
                    self.flag.set()
        except psycopg.Error as error:
            log.warning("relay.listen_lost", schema=self.schema, error=type(error).__name__)
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop listening; returns once the connection is closed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
