"""Idempotent consumers: the event id is recorded in the same transaction as the effect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from services.common.eventstore.models import ConcurrencyError

T = TypeVar("T")


class Identified(Protocol):
    """What a batch's items need: the event id the claim is made on."""

    @property
    def event_id(self) -> Any: ...


E = TypeVar("E", bound=Identified)


@dataclass(frozen=True)
class _Claim:
    """A lone event id, as `once` claims it through `each`."""

    event_id: UUID | str


class Inbox:
    """`once(event_id, effect)` runs `effect(conn)` at most once per (consumer, event id)."""

    def __init__(
        self, pool: ConnectionPool, schema: str, consumer: str, max_attempts: int = 5
    ) -> None:
        self.pool = pool
        self.max_attempts = max_attempts
        self.schema = schema
        self.consumer = consumer
        self._claim_all = sql.SQL(
            "INSERT INTO {}.processed_events (consumer, event_id) "
            "SELECT %s, unnest(%s::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id::text"
        ).format(sql.Identifier(schema))

    def once(
        self, event_id: UUID | str, effect: Callable[[psycopg.Connection], T]
    ) -> tuple[bool, T | None]:
        """(True, result) if the effect ran and committed now; (False, None) if done before.

        The claim row and the effect commit or roll back together: a crash between them leaves
        neither, so the redelivered message runs the effect again, exactly once in the end.
        A concurrent duplicate blocks on the claim's unique key until the first commits.
        The claim gives the transaction its id first, so an append in `effect` may meet the
        store's stream-order guard (ADR 0003); the whole unit then reruns in a new transaction.
        """
        ((ran, result),) = self.each([_Claim(event_id)], lambda conn, _: effect(conn))
        return ran, result

    def each(
        self, events: Sequence[E], effect: Callable[[psycopg.Connection, E], T]
    ) -> list[tuple[bool, T | None]]:
        """`once` for a batch (`@consume_batch`): every claim and effect in one transaction.

        Per event, (True, result) if its effect ran now, (False, None) if done before (or
        earlier in the same batch). The claims are one statement; effects run in order."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.pool.connection() as conn, conn.transaction():
                    ids = [str(UUID(str(e.event_id))) for e in events]
                    rows = conn.execute(self._claim_all, (self.consumer, ids)).fetchall()
                    claimed = {r[0] for r in rows}
                    out: list[tuple[bool, T | None]] = []
                    for event, event_id in zip(events, ids, strict=True):
                        if event_id in claimed:
                            claimed.discard(event_id)  # a copy later in the batch is a duplicate
                            out.append((True, effect(conn, event)))
                        else:
                            out.append((False, None))
                    return out
            except ConcurrencyError:
                if attempt == self.max_attempts:
                    raise
        raise AssertionError("unreachable")
