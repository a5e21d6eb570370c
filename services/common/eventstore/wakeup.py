"""Wakes the relay of a schema when its events commit, so it need not poll (ADR 0005).

A relay leading in this process registers its schema; the store then wakes it after each
commit in-process, at no database cost. A writer in any other process (another replica, the
CLI) cannot reach it so: after its commits it sends `NOTIFY carnet_relay_<schema>` (Notifier,
at most one per 5 ms), which the leader LISTENs for (relay/listener.py). A commit the store
cannot see (a plain connection in the caller's transaction) NOTIFYs inside that transaction.
The relay still polls, more slowly, in case a wake-up is lost.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable

from services.common.logging import get_logger

log = get_logger(__name__)

NOTIFY_INTERVAL_S = 0.005


def channel(schema: str) -> str:
    """The NOTIFY channel of a schema's relay (a plain identifier, as schema names are)."""
    return f"carnet_relay_{schema}"


class Wakeups:
    """One wake-up flag per (database, schema) whose relay leads in this process."""

    def __init__(self) -> None:
        self._flags: dict[tuple[str, str], threading.Event] = {}

    def lead(self, database: str, schema: str) -> threading.Event:
        """The relay of `schema` leads here: appends wake this flag instead of notifying."""
        flag = self._flags.setdefault((database, schema), threading.Event())
        return flag

    def resign(self, database: str, schema: str) -> None:
        """The relay no longer leads here: appends notify again."""
        self._flags.pop((database, schema), None)

    def leads_here(self, database: str, schema: str) -> bool:
        """Whether an append of `schema` in this process can wake its relay without NOTIFY."""
        return (database, schema) in self._flags

    def committed(self, database: str, schema: str) -> None:
        """Events of `schema` committed (or a listener heard so): wake its relay, if here."""
        flag = self._flags.get((database, schema))
        if flag is not None:
            flag.set()


WAKEUPS = Wakeups()


class Notifier:
    """NOTIFYs a relay in another process of this store's commits, off the append path.

    NOTIFY inside the appending transaction takes a cluster-wide lock at commit that serialises
    every notifying writer (`make bench-store`: 4 writers fell from 0.71x to 0.48x of raw
    inserts). Instead, a commit only marks the store due; a short-lived thread sends one NOTIFY
    per `interval` for all the commits since, in a tiny transaction of its own."""

    def __init__(self, send: Callable[[], None], interval: float = NOTIFY_INTERVAL_S) -> None:
        self._send, self._interval = send, interval
        self._lock = threading.Lock()
        self._due = self._running = False
        _NOTIFIERS.add(self)  # flushed at exit; weakly held, so a dropped store is not kept

    def due(self) -> None:
        """Events committed: a NOTIFY goes out within `interval` (or as the process exits)."""
        with self._lock:
            self._due = True
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="carnet-notify", daemon=True).start()

    def flush(self) -> None:
        """Send now if commits are waiting for their NOTIFY."""
        with self._lock:
            due, self._due = self._due, False
        if due:
            self._send_safely()

    def _run(self) -> None:
        """Send while commits keep coming, then end; a failed NOTIFY leaves it to the poll."""
        while True:
            time.sleep(self._interval)
            with self._lock:
                if not self._due:
                    self._running = False
                    return
                self._due = False
            self._send_safely()

    def _send_safely(self) -> None:
        try:
            self._send()
        except Exception as error:  # the relay's poll covers a lost wake-up
            log.warning("relay.notify_failed", error=type(error).__name__)


_NOTIFIERS: weakref.WeakSet[Notifier] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """A CLI command may end before a notifier's thread had its turn."""
    for notifier in list(_NOTIFIERS):
        notifier.flush()
