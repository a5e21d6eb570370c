"""`@consume_batch`: `@consume_event` for hot queues, a list of events per worker (ADR 0016).

A worker per message costs a greenthread, a pooled connection and a transaction per event;
on the audit and notification queues that was most of the CPU a booking costs. This
entrypoint gathers what the prefetch window holds (up to `max_batch` events, waiting at most
`max_wait` seconds for more) and hands the list to one worker: one transaction, then every
message is acked after it commits. One batch per queue is in flight at a time, so events are
applied in the order they arrive. A batch that fails is split: each of its messages runs
again alone, through the same path as `@consume_event` (requeue, or dead-letter with its
reason), so a poison message is dead-lettered alone and the others are applied.
"""

from __future__ import annotations

from typing import Any

import eventlet
from eventlet.event import Event
from nameko.exceptions import ContainerBeingKilled

from services.common.logging import get_logger
from services.common.metrics import CONSUMER_BATCH_SIZE, CONSUMER_BATCHES_SPLIT
from services.common.nameko_ext.consumer import EventConsumer
from services.common.tracing import trace_headers

log = get_logger(__name__)

MAX_BATCH = 100
MAX_WAIT_S = 0.01


class BatchConsumer(EventConsumer):
    """Consumes like `@consume_event`; the method takes a list of events (one transaction)."""

    def __init__(
        self,
        source: str,
        event_types: Any,
        max_batch: int = MAX_BATCH,
        max_wait: float = MAX_WAIT_S,
        **kwargs: Any,
    ) -> None:
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._pending: list[tuple[Any, Any]] = []
        self._draining = False
        super().__init__(source, event_types, **kwargs)

    @property
    def prefetch(self) -> int:
        """Two batches: one being applied, the next one arriving meanwhile."""
        return 2 * self.max_batch

    def deliver(self, message: Any, event: Any) -> None:
        """Queue the event for the next batch; start draining if nothing drains yet."""
        self._pending.append((message, event))
        if not self._draining:
            self._draining = True
            self.container.spawn_managed_thread(
                self._drain, identifier=f"BatchConsumer.drain[{self.queue_name}]"
            )

    def _drain(self) -> None:
        """Run batches until nothing is pending; one at a time, in arrival order."""
        try:
            while self._pending:
                if len(self._pending) < self.max_batch:
                    eventlet.sleep(self.max_wait)  # let the prefetch window's rest arrive
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._run(batch)
        finally:
            self._draining = False

    def _run(self, batch: list[tuple[Any, Any]]) -> None:
        """One worker over the batch; a failed batch of several runs again one by one."""
        done: Event = Event()
        first = batch[0][1]
        context = {
            "correlation_id": first.correlation_id,
            "causation_id": str(first.event_id),
            **trace_headers(first.headers),
        }
        try:
            self.container.spawn_worker(
                self,
                ([event for _, event in batch],),
                {},
                context_data=context,
                handle_result=lambda ctx, result=None, exc_info=None: self._settle(
                    batch, done, result, exc_info
                ),
            )
        except ContainerBeingKilled:
            for message, _ in batch:
                self.requeue(message)
            return
        error = done.wait()
        if error is None:
            return
        CONSUMER_BATCHES_SPLIT.labels(self.queue_name).inc()
        log.warning("consumer.batch_split", queue=self.queue_name, size=len(batch), error=error)
        for item in batch:
            self._run([item])

    def _settle(
        self, batch: list[tuple[Any, Any]], done: Event, result: Any, exc_info: Any
    ) -> tuple[Any, Any]:
        """Ack all after the commit; a lone event's failure settles as `@consume_event`'s."""
        if exc_info is None:
            CONSUMER_BATCH_SIZE.labels(self.queue_name).observe(len(batch))
            for message, event in batch:
                self.ack(message)
                self.applied(event)
            done.send(None)
        elif len(batch) == 1:
            self.failed(batch[0][0], exc_info)
            done.send(None)
        else:
            done.send(type(exc_info[1]).__name__)  # split by _run, outside the worker
        return result, exc_info


consume_batch = BatchConsumer.decorator
