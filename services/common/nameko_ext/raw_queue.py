"""nameko's shared queue consumer for `@consume_event`: raw bytes in, acks that survive."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from kombu import Connection
from nameko.extensions import ProviderCollector
from nameko.messaging import QueueConsumer

from services.common.logging import get_logger

if TYPE_CHECKING:
    from services.common.nameko_ext.consumer import EventConsumer

log = get_logger(__name__)


class RawQueueConsumer(QueueConsumer):
    """nameko's shared queue consumer, minus kombu's decoding: poison bytes must reach us."""

    def start(self) -> None:
        """Declare every queue now, consume only once the container's database pool is open.

        Readiness gates consumption (a message taken earlier would wait or fail, spending an
        attempt); the queues exist from the start all the same, so nothing published to them
        meanwhile is dropped by the exchange for want of a bound queue.
        """
        from services.common.nameko_ext.database import wait_until_open  # no import cycle

        self._declare_queues()
        if wait_until_open(self.container) and self._providers:
            super().start()
        # else the container stopped before its database ever answered: nothing consumed

    def unregister_provider(self, provider: Any) -> None:
        """As nameko's, unless consuming never started: nameko's path for "not ready yet" then
        signals once per provider, and a second signal failed the container's stop (it hung,
        still awaiting the database, on SIGTERM)."""
        if self._gt is None:
            ProviderCollector.unregister_provider(self, provider)
            return
        super().unregister_provider(provider)

    def stop(self) -> None:
        """As nameko's, unless consuming never started (stopped while awaiting the database)."""
        if self._gt is not None:
            super().stop()

    def _declare_queues(self) -> None:
        """Each provider's queue and its bindings, on one connection (idempotent)."""
        if not self._providers:
            return
        with Connection(self.amqp_uri) as conn:
            conn.ensure_connection(max_retries=None, interval_max=5)
            channel = conn.default_channel
            for provider in self._providers:
                if not provider.queue.exclusive:  # a broadcast's is its consumer connection's
                    provider.queue(channel).declare()

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        """Called on every (re)connection: one kombu consumer per entrypoint, raw messages."""
        for provider in self._providers:
            consumer = consumer_cls(
                queues=[provider.queue], on_message=partial(self.handle_raw, provider)
            )
            # basic.qos binds the consumers started after it on the channel: start this one
            # now (kombu's later consume() is a no-op), so each keeps its own window.
            consumer.qos(prefetch_count=provider.prefetch or self.prefetch_count)
            consumer.consume()
            self._consumers[provider] = consumer
        return self._consumers.values()

    def handle_raw(self, provider: EventConsumer, message: Any) -> None:
        """Each message is handled in its own managed thread, as nameko does."""
        self.container.spawn_managed_thread(
            partial(provider.handle_raw_message, message),
            identifier=f"EventConsumer.handle[{provider.queue_name}]",
        )

    def ack_message(self, message: Any) -> None:
        """nameko ignores amqp's ConnectionError only: a socket reset here (the broker died
        while the handler ran) would kill the container. The broker requeues the unacked
        message and every consumer is idempotent, so a lost ack costs one redelivery."""
        try:
            super().ack_message(message)
        except OSError as error:
            log.warning("message.ack_lost", error_type=type(error).__name__)

    def requeue_message(self, message: Any) -> None:
        """As ack_message: a dead connection has already given the message back."""
        try:
            super().requeue_message(message)
        except OSError as error:
            log.warning("message.requeue_lost", error_type=type(error).__name__)
