"""Wakes the relay of a schema when its events commit, so it need not poll (ADR 0005).

A relay leading in this process registers its schema; the store then wakes it after each
commit in-process, at no database cost. A writer in any other process (another replica, the
CLI) cannot reach it so: its append also sends `NOTIFY carnet_relay_<schema>` in the same
transaction (delivered only if it commits), which the leader LISTENs for (relay/listener.py).
The relay still polls, more slowly, in case a wake-up is lost.
"""

from __future__ import annotations

import threading


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
