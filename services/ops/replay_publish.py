"""Re-deliver a slice of one service's log to ONE consumer queue (`carnet replay publish`).

Each event becomes exactly the message the relay publishes for it (relay/messages.py:
the stored JSON text as the body, the same properties and headers), but it goes to the
default exchange with the queue's name as routing key, so only that queue receives it.

Order is the store's gap-free global-log order, (transaction_id, position) (ADR 0003), the
order the relay published in; `position` alone is not an order. The slice is chosen by the
`position` column (from/to inclusive), event types and stream ids, among the events readable
when the command starts (the log head then): later appends are not included.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from pika.exceptions import AMQPError, ChannelClosedByBroker
from psycopg import sql

from services.common.amqp import pika_connection
from services.common.eventstore.models import LogCursor, RawRecordedEvent
from services.common.eventstore.store import EventStore
from services.common.relay.messages import to_message
from services.common.relay.publisher import ConfirmingPublisher, OutgoingMessage, PublishFailed

MAX_POSITION = 2**63 - 1


class ReplayPublishError(Exception):
    """The replay cannot start or cannot go on: the message says why, for the operator."""


@dataclass(frozen=True)
class Slice:
    """Which events: positions from..to (inclusive, the `position` column), types, streams."""

    from_position: int
    to_position: int | None = None
    types: frozenset[str] = frozenset()
    streams: frozenset[str] = frozenset()

    def matches(self, event: RawRecordedEvent) -> bool:
        return (
            self.from_position <= event.position <= (self.to_position or MAX_POSITION)
            and (not self.types or event.event_type in self.types)
            and (not self.streams or event.stream_id in self.streams)
        )


@dataclass(frozen=True)
class Plan:
    """Where the walk of the log starts and ends, and how many events of the slice lie between.

    `end` is the log head when planned. Rows at or before it never change (they are below the
    snapshot's xmin, ADR 0003), so `total` is exact and the walk can stop once it has them all.
    """

    start: LogCursor
    end: LogCursor
    total: int
    held_back: int = 0  # committed after `end` but not readable yet (a running transaction)


@dataclass
class Summary:
    """What was (or, with --dry-run, would be) sent."""

    count: int = 0
    first_position: int | None = None
    last_position: int | None = None
    types: Counter[str] = field(default_factory=Counter)
    streams: set[str] = field(default_factory=set)

    def add(self, events: Sequence[RawRecordedEvent]) -> None:
        for event in events:
            if self.first_position is None:
                self.first_position = event.position
            self.last_position = event.position
            self.types[event.event_type] += 1
            self.streams.add(event.stream_id)
        self.count += len(events)


def plan(store: EventStore, database_url: str, selection: Slice) -> Plan:
    """Fix the log head, then count the slice below it and find where its walk can start.

    The head is read first: whatever is readable then is visible to the count's later
    snapshot too. The walk starts at the smallest transaction id holding an event of the
    slice, not at the beginning of the log.
    """
    end = store.head()
    query = sql.SQL(
        "SELECT min(e.transaction_id)::text::int8, count(*) FROM {}.events e"
        " WHERE e.position BETWEEN %(lo)s AND %(hi)s"
        " AND (e.transaction_id, e.position) <= (%(xid)s::text::xid8, %(pos)s::int8)"
        " AND (%(types)s::text[] IS NULL OR e.event_type = ANY(%(types)s::text[]))"
        " AND (%(streams)s::text[] IS NULL OR e.stream_id = ANY(%(streams)s::text[]))"
    ).format(sql.Identifier(store.schema))
    params = {
        "lo": selection.from_position,
        "hi": selection.to_position if selection.to_position is not None else MAX_POSITION,
        "xid": str(end.transaction_id),
        "pos": end.position,
        "types": sorted(selection.types) or None,
        "streams": sorted(selection.streams) or None,
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    min_xid, total = row
    held_back = store.count_pending_after(end)
    if not total:
        return Plan(end, end, 0, held_back)
    # Rows of that transaction below from_position are outside the slice anyway.
    return Plan(LogCursor(min_xid, selection.from_position - 1), end, int(total), held_back)


def walk(
    store: EventStore, selection: Slice, where: Plan, page: int = 500
) -> Iterator[list[RawRecordedEvent]]:
    """The slice's events in global-log order, a page at a time (empty pages skipped)."""
    cursor, seen = where.start, 0
    while seen < where.total and (events := store.read_all_raw(cursor, limit=page)):
        cursor = events[-1].cursor
        kept = [e for e in events if e.cursor <= where.end and selection.matches(e)]
        kept = kept[: where.total - seen]
        seen += len(kept)
        if kept:
            yield kept
        if cursor >= where.end:
            break


def message_for(
    event: RawRecordedEvent, service: str, queue: str, routing_key_for: Callable[[str], str]
) -> OutgoingMessage:
    """The relay's message for `event`, sent via the default exchange to `queue` alone."""
    relayed = to_message(event, service, routing_key_for(event.event_type))
    return replace(relayed, exchange="", routing_key=queue)


def check_queue(amqp_uri: str, queue: str) -> int:
    """The queue's depth; ReplayPublishError if it does not exist (passive: never creates one)."""
    if not queue or queue.startswith("amq."):
        raise ReplayPublishError(f"{queue!r} is not a consumer queue name")
    try:
        with pika_connection(amqp_uri) as conn:
            return conn.channel().queue_declare(queue, passive=True).method.message_count
    except ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            raise ReplayPublishError(
                f"queue {queue!r} does not exist in this vhost (nothing was sent; "
                "check the name with `rabbitmqctl list_queues` or the management UI)"
            ) from exc
        raise ReplayPublishError(f"queue {queue!r}: {exc.reply_text}") from exc
    except AMQPError as exc:
        raise ReplayPublishError(f"cannot reach the broker: {type(exc).__name__} {exc}") from exc


class QueuePublisher(ConfirmingPublisher):
    """ConfirmingPublisher for the default exchange, which cannot (and need not) be declared."""

    def declare_exchange(self, exchange: str) -> None:
        if exchange:
            super().declare_exchange(exchange)

    def queue_still_there(self, queue: str) -> None:
        """Passive check after a confirmed batch: a queue deleted meanwhile drops messages."""
        try:
            self.channel.queue_declare(queue, passive=True)
        except ChannelClosedByBroker as exc:
            raise ReplayPublishError(
                f"queue {queue!r} disappeared during the replay: messages routed to it after "
                "that were dropped by the broker. Recreate it and run the command again."
            ) from exc


def publish(
    store: EventStore,
    selection: Slice,
    where: Plan,
    *,
    service: str,
    queue: str,
    amqp_uri: str,
    routing_key_for: Callable[[str], str],
    progress: Callable[[int], Any] = lambda _done: None,
    batch_size: int = 500,
    confirm_timeout: float = 60.0,
) -> Summary:
    """Publish the slice to `queue`, persistent, a batch at a time with publisher confirms.

    Each batch is confirmed by the broker (and the queue checked still there) before the
    next one is sent, so a failure leaves a known prefix delivered; running again repeats
    it, which idempotent consumers absorb.
    """
    summary = Summary()
    publisher = QueuePublisher(amqp_uri)
    try:
        for events in walk(store, selection, where, page=batch_size):
            messages = [message_for(e, service, queue, routing_key_for) for e in events]
            publisher.publish_batch(messages, timeout=confirm_timeout)
            publisher.queue_still_there(queue)
            summary.add(events)
            progress(summary.count)
    except (PublishFailed, AMQPError) as exc:
        raise ReplayPublishError(
            f"stopped after {summary.count} of {where.total} events confirmed"
            f"{f' (last position {summary.last_position})' if summary.count else ''}: "
            f"{type(exc).__name__} {exc}. The batch in flight may or may not have arrived; "
            "running the same command again is safe for idempotent consumers."
        ) from exc
    finally:
        publisher.close()
    return summary


def preview(store: EventStore, selection: Slice, where: Plan) -> Summary:
    """The same walk as publish(), sending nothing."""
    summary = Summary()
    for events in walk(store, selection, where):
        summary.add(events)
    return summary


class RateReporter:
    """A progress line on stderr at most every `every` seconds: done/total, rate, ETA."""

    def __init__(
        self,
        total: int | None,
        echo: Callable[[str], Any],
        verb: str = "published",
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "msg",
    ) -> None:
        self.total, self.echo, self.verb, self.every, self.clock = total, echo, verb, every, clock
        self.unit = unit
        self.started = self.last = clock()

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        self.echo(self.line(done, now))

    def line(self, done: int, now: float | None = None) -> str:
        elapsed = max((now if now is not None else self.clock()) - self.started, 1e-9)
        rate = done / elapsed
        text = f"{self.verb} {done}"
        if self.total:
            text += f"/{self.total} ({100 * done / self.total:.0f}%)"
        text += f", {rate:.0f} {self.unit}/s"
        if self.total and rate > 0:
            text += f", ETA {max(0.0, (self.total - done) / rate):.0f}s"
        return text
