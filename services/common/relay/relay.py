"""The relay loop: one leader per service publishes the log in order and records how far it got."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.common.eventstore.models import LogCursor, RawRecordedEvent
from services.common.eventstore.wakeup import WAKEUPS
from services.common.logging import get_logger
from services.common.metrics import (
    RELAY_LAG_EVENTS,
    RELAY_LAG_SECONDS,
    RELAY_LEADER,
    RELAY_PUBLISHED,
)
from services.common.relay.leadership import Leadership
from services.common.relay.listener import Listener
from services.common.relay.messages import seconds_since, to_message
from services.common.relay.position import SAVE_EVERY_S, Position
from services.common.relay.publisher import ConfirmingPublisher, OutgoingMessage
from services.common.retry import backoff_delays

log = get_logger(__name__)

IDLE_WAIT_S = 1.0  # the poll behind the wake-ups: only a lost wake-up waits this long
HELD_BACK_WAIT_S = 0.02
HELD_BACK_POLLS = 25  # 0.5 s of quick looks after a wake-up, then back to the poll


class StopSignal(Protocol):
    """Anything with is_set()/wait(): threading.Event, eventlet Event adapters."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class EventLog(Protocol):
    """The part of the event store the relay reads."""

    def read_all_raw(self, after: LogCursor, limit: int = 1000) -> list[RawRecordedEvent]: ...

    def count_pending_after(self, cursor: LogCursor) -> int: ...


@dataclass
class RelayStats:
    """What the relay has done, for logs, metrics and tests."""

    published: int = 0
    batches: int = 0
    lag_events: int = 0
    lag_seconds: float = 0.0
    is_leader: bool = False


@dataclass(frozen=True)
class _Batch:
    """Messages ready to send: the events of the log right after `after`, up to `cursor`."""

    after: LogCursor
    cursor: LogCursor
    messages: list[OutgoingMessage]
    last_recorded_at: datetime


class Relay:
    """Publishes a service's committed events to `<service>.events`, never skipping one."""

    def __init__(
        self,
        store: EventLog,
        database_url: str,
        schema: str,
        producer: str,
        amqp_uri: str,
        routing_key_for: Callable[[str], str],
        name: str = "relay",
        batch_size: int = 500,
        idle_wait: float = IDLE_WAIT_S,
        report_every: float = 5.0,
        save_every: float = SAVE_EVERY_S,
    ) -> None:
        self.store = store
        self.database_url = database_url
        self.schema = schema
        self.producer = producer
        self.routing_key_for = routing_key_for
        self.name = name
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.report_every = report_every
        self.publisher = ConfirmingPublisher(amqp_uri)
        self.leadership = Leadership(database_url, schema)
        self.position = Position(database_url, schema, name, save_every)
        self.stats = RelayStats()
        self._prefetched: _Batch | None = None
        self.wakeup = threading.Event()  # set on a commit here or a NOTIFY (wakeup.py)
        self._listener: Listener | None = None
        self._database: str | None = None  # where we lead, while we do

    # -- one step ---------------------------------------------------------------------------
    def publish_once(self, cursor: LogCursor) -> LogCursor:
        """Publish the next batch after `cursor`; return the new cursor (same if none).

        While the broker confirms this batch, the next one is read and converted, so that
        work overlaps the wait instead of following it. It is only published by the next
        call, once this batch is confirmed and its cursor saved: batches go out in log
        order, and the saved position never passes an unconfirmed message.
        """
        batch = self._take_prefetched(cursor) or self._read_batch(cursor)
        if batch is None:
            self.stats.lag_seconds = 0.0
            return cursor
        self.publisher.send(batch.messages)
        upcoming = self._read_batch(batch.cursor)
        self.publisher.wait_for_confirms()
        self.position.save_if_due(batch.cursor)
        self._prefetched = upcoming
        self.stats.published += len(batch.messages)
        self.stats.batches += 1
        RELAY_PUBLISHED.labels(self.producer).inc(len(batch.messages))
        # The oldest event not yet published is at most as old as the last one just sent.
        self.stats.lag_seconds = seconds_since(batch.last_recorded_at)
        return batch.cursor

    def _read_batch(self, cursor: LogCursor) -> _Batch | None:
        """The next events after `cursor` as messages; the data goes out as stored (JSON text)."""
        events = self.store.read_all_raw(cursor, limit=self.batch_size)
        if not events:
            return None
        messages = [
            to_message(e, self.producer, self.routing_key_for(e.event_type)) for e in events
        ]
        return _Batch(cursor, events[-1].cursor, messages, events[-1].recorded_at)

    def _take_prefetched(self, cursor: LogCursor) -> _Batch | None:
        """The batch read ahead after `cursor`, if any; read earlier, it is still exact.

        It held every readable event after `cursor`, up to batch_size, when it was read. Rows
        below the snapshot's xmin never change and none appear among them later (ADR 0003),
        so a fresh read would return the same events, perhaps followed by newer ones.
        """
        batch, self._prefetched = self._prefetched, None
        return batch if batch is not None and batch.after == cursor else None

    def measure_lag(self, cursor: LogCursor) -> None:
        """Count what is committed but unpublished (a range scan: done every few seconds)."""
        self.stats.lag_events = self.store.count_pending_after(cursor)
        if not self.stats.lag_events:
            self.stats.lag_seconds = 0.0
        RELAY_LAG_EVENTS.labels(self.producer).set(self.stats.lag_events)
        RELAY_LAG_SECONDS.labels(self.producer).set(self.stats.lag_seconds)

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: StopSignal, standby_poll: float = 1.0) -> None:
        """Lead or wait; while leading, publish until stopped. Errors reconnect with backoff."""
        delays = backoff_delays(first=0.2, cap=10.0)
        while not stop.is_set():
            try:
                if not self.leadership.try_acquire():
                    self.stats.is_leader = False
                    RELAY_LEADER.labels(self.producer).set(0)  # a standby says so: 0, not absent
                    stop.wait(standby_poll)
                    continue
                self.stats.is_leader = True
                log.info("relay.leading", relay=self.name, schema=self.schema)
                self._lead(stop)
                delays = backoff_delays(first=0.2, cap=10.0)
            except Exception as exc:
                delay = next(delays)
                log.warning(
                    "relay.error",
                    relay=self.name,
                    error=type(exc).__name__,
                    detail=str(exc)[:200],
                    retry_in_s=delay,
                )
                self._drop_connections()
                stop.wait(delay)
        self._drop_connections()

    def _lead(self, stop: StopSignal) -> None:
        cursor = self.position.load()
        RELAY_LEADER.labels(self.producer).set(1)
        self._listen()
        last_report, reported = float("-inf"), -1  # the first report at once, whatever the uptime
        held_back = 0  # polls left while woken events wait behind an older transaction
        while not stop.is_set():
            if not self.leadership.still_held():
                raise ConnectionError("lost the leadership connection")
            new_cursor = self.publish_once(cursor)
            if time.monotonic() - last_report > self.report_every:
                reported = self._report(new_cursor, reported)
                last_report = time.monotonic()
            if new_cursor != cursor:
                held_back = 0
            elif held_back:
                # Woken, but the commit is not readable yet: an older writing transaction
                # still runs (ADR 0003). Look again soon rather than at the next poll.
                held_back -= 1
                self.wakeup.wait(HELD_BACK_WAIT_S)
                self.wakeup.clear()
            else:
                if self.position.unsaved is not None:  # idle: record where we are
                    self.position.save_if_due(self.position.unsaved, force=True)
                self.publisher.keep_alive()
                if self.wakeup.wait(self.idle_wait):
                    held_back = HELD_BACK_POLLS
                self.wakeup.clear()
            cursor = new_cursor
        if self.position.unsaved is not None:
            self.position.save_if_due(self.position.unsaved, force=True)

    def _listen(self) -> None:
        """Be woken by this process's appends, and LISTEN for other processes' (wakeup.py)."""
        assert self.leadership.conn is not None
        self._database = self.leadership.conn.info.dbname
        self.wakeup = WAKEUPS.lead(self._database, self.schema)
        self._listener = Listener(self.database_url, self.schema, self.wakeup)
        self._listener.start()

    def stop_waiting(self) -> None:
        """Cut an idle wait short (the runner is stopping)."""
        self.wakeup.set()

    def _report(self, cursor: LogCursor, reported: int) -> int:
        """Refresh the lag metrics; log progress only when something moved or is waiting."""
        self.measure_lag(cursor)
        if self.stats.published != reported or self.stats.lag_events:
            log.info(
                "relay.progress",
                relay=self.name,
                published=self.stats.published,
                position=cursor.position,
                lag_events=self.stats.lag_events,
                lag_seconds=round(self.stats.lag_seconds, 3),
            )
        return self.stats.published

    def _drop_connections(self) -> None:
        self.stats.is_leader = False
        self._prefetched = None
        if self._database is not None:
            WAKEUPS.resign(self._database, self.schema)
            self._database = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        RELAY_LEADER.labels(self.producer).set(0)
        self.publisher.close()
        self.leadership.release()
        self.position.close()
