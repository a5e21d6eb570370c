"""`@consume_broadcast`: every replica gets every event, for state each process keeps itself.

A `@consume_event` queue is shared: each event reaches one replica, which is right for work
done once (an inbox row, a ledger entry) and wrong for a cache every replica holds — a
suspended connector stayed cached on the others until their TTL (issue #24). This entrypoint
gives each process its own queue, `<consumer queue>.<instance id>.<4 hex>`, bound like the
shared one: exclusive to the consuming connection, so deleted with it, and declared again on
each reconnection. Events published while a replica is away or reconnecting miss it: what it
keeps must expire by itself too (the principal cache's TTL, at most a second). Decoding and
dead-lettering are `@consume_event`'s, under the shared queue's name and dead-letter queue; a
handler that fails is dead-lettered at once, since a classic queue counts no redeliveries
(ADR 0004).
"""

from __future__ import annotations

import secrets
from typing import Any

from kombu import Queue

from services.common.instance import instance_id
from services.common.nameko_ext.consumer import EventConsumer


class BroadcastConsumer(EventConsumer):
    """`@consume_event` on a queue of this process's own: every replica sees every event."""

    def __init__(self, source: str, event_types: Any, **kwargs: Any) -> None:
        super().__init__(source, event_types, max_attempts=1, **kwargs)

    def setup(self) -> None:
        """The shared queue's name stays the logical one (DLQ, metrics); the queue is ours."""
        super().setup()
        own = f"{self.queue_name}.{instance_id()}.{secrets.token_hex(2)}"
        self.queue = Queue(
            own,
            bindings=self.queue.bindings,
            durable=False,
            exclusive=True,  # RabbitMQ 4 refuses transient queues that are not exclusive
            auto_delete=True,
            queue_arguments={"x-queue-type": "classic"},
        )


consume_broadcast = BroadcastConsumer.decorator
