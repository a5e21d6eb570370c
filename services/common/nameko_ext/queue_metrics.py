"""Consumer lag and dead-letter depth: a small loop that asks the broker every few seconds.

Every `QUEUE_METRICS_INTERVAL_SECONDS` (default 5) it passive-declares each `@consume_event`
queue of the container, its dead-letter queue and the broker's backstop
(`carnet.dlq.delivery-limit`), and sets:

- `carnet_consumer_messages_ready{queue}`: what the broker has not delivered yet. A passive
  declare counts ready messages only; what is delivered but unacked is counted by the
  consumer itself, per process (`carnet_consumer_messages_unacked`, consumer.py), because
  only the management API knows the broker-wide figure, and services do not talk to it;
- `carnet_consumer_lag_seconds{queue}`: 0 when nothing waits (ready + unacked = 0); else now
  minus the later of the newest applied event's occurred_at and the last poll that saw the
  queue empty (the consumer was caught up then). Absent until one of them is known;
- `carnet_dead_letter_messages{queue}` for the DLQs.

Every replica reports the same broker counts: aggregate them with max, the unacked with sum.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from amqp.exceptions import NotFound
from kombu import Connection
from nameko.extensions import DependencyProvider

from services.common.broker import LIMIT_DLQ
from services.common.logging import get_logger
from services.common.metrics import CONSUMER_LAG_SECONDS, CONSUMER_READY, DEAD_LETTER_MESSAGES
from services.common.nameko_ext.consumer import EventConsumer

log = get_logger(__name__)
DEFAULT_INTERVAL_SECONDS = 5.0


def consumer_lag(
    waiting: int, newest_applied: float | None, caught_up_at: float | None, now: float
) -> float | None:
    """Seconds behind: 0 when nothing waits, None when nothing tells from when to measure."""
    if waiting <= 0:
        return 0.0
    since = max((t for t in (newest_applied, caught_up_at) if t is not None), default=None)
    return None if since is None else max(0.0, now - since)


def depth(conn: Connection, queue: str) -> int | None:
    """Ready messages in `queue` now, or None if it does not exist (yet)."""
    channel = conn.channel()
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except NotFound:
        return None  # the broker closed the channel with the 404
    finally:
        if channel.is_open:
            channel.close()


class QueueMetrics(DependencyProvider):
    """Polls the broker for the container's consumer queues and DLQs (no worker needed)."""

    def setup(self) -> None:
        """Interval from the config; the loop starts with the container."""
        value = self.container.config.get("QUEUE_METRICS_INTERVAL_SECONDS")
        self.interval = DEFAULT_INTERVAL_SECONDS if value in (None, "") else float(value)
        self._stop = threading.Event()
        self._caught_up_at: dict[str, float] = {}
        self._thread: Any = None

    def start(self) -> None:
        """A managed thread, only for a service that consumes events."""
        self.consumers = [e for e in self.container.entrypoints if isinstance(e, EventConsumer)]
        if self.consumers:
            self._thread = self.container.spawn_managed_thread(self._run, identifier="queues")

    def stop(self) -> None:
        """End the loop after its current poll."""
        self._stop.set()
        if self._thread is not None:
            self._thread.wait()

    def kill(self) -> None:
        """Same as stop, without waiting."""
        self._stop.set()

    def _run(self) -> None:
        conn: Connection | None = None
        failing = False
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = Connection(self.container.config["AMQP_URI"], connect_timeout=2)
                    conn.ensure_connection(max_retries=1)
                self.poll(conn)
                if failing:
                    log.info("queue_metrics.recovered")
                failing = False
            except Exception as exc:  # the broker is down or the connection broke: retry later
                if not failing:
                    log.warning("queue_metrics.unavailable", error=type(exc).__name__)
                failing = True
                if conn is not None:
                    conn.release()
                conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.release()

    def poll(self, conn: Connection) -> None:
        """One round: every consumer queue, its DLQ, and the backstop DLQ."""
        for consumer in self.consumers:
            # A broadcast's queue is exclusive to its consumer's connection (another one may
            # not even look at it) and holds only cache invalidations: its DLQ is polled below.
            ready = None if consumer.queue.exclusive else depth(conn, consumer.queue.name)
            if ready is not None:
                CONSUMER_READY.labels(consumer.queue_name).set(ready)
                self._lag(consumer, ready + consumer.unacked)
            parked = depth(conn, consumer.dlq_name)
            if parked is not None:
                DEAD_LETTER_MESSAGES.labels(consumer.dlq_name).set(parked)
        parked = depth(conn, LIMIT_DLQ)
        if parked is not None:
            DEAD_LETTER_MESSAGES.labels(LIMIT_DLQ).set(parked)

    def _lag(self, consumer: EventConsumer, waiting: int) -> None:
        now = time.time()
        if waiting <= 0:
            self._caught_up_at[consumer.queue_name] = now
        lag = consumer_lag(
            waiting, consumer.newest_applied, self._caught_up_at.get(consumer.queue_name), now
        )
        if lag is not None:
            CONSUMER_LAG_SECONDS.labels(consumer.queue_name).set(lag)
