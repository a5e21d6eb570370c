"""`@consume_event`: a nameko entrypoint for contract events on quorum queues with dead-lettering.

nameko's own `@event_handler` lets kombu decode bodies (garbage crashes the consumer loop),
acks a message whose handler raised, and never dead-letters. This entrypoint takes raw
bytes (raw_queue.py), decodes them through `services.common.consumed.decode`, and for each
message either runs the worker, requeues it (a failure below `max_attempts`), or publishes
it to its dead-letter queue (dead_lettering.py) with the reason in its headers and only
then acks it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from kombu import Connection, Exchange, Queue, binding
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint

from contracts.registry import REGISTRY
from services.common.broker import DLX, dead_letter_queue_name, queue_name
from services.common.consumed import REPLAY_EXCHANGE, PoisonMessage, decode
from services.common.logging import get_logger
from services.common.metrics import (
    CONSUMER_REDELIVERED,
    CONSUMER_UNACKED,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_REQUEUED,
)
from services.common.nameko_ext.dead_lettering import (
    dead_letter_headers,
    delivery_count,
    publish_to_dlq,
)
from services.common.nameko_ext.raw_queue import RawQueueConsumer
from services.common.tracing import trace_headers

log = get_logger(__name__)
ALL_EVENTS = "*"


class EventConsumer(Entrypoint):
    """Consumes `<source>.events` for some event types into this service's own quorum queue."""

    queue_consumer = RawQueueConsumer()

    def __init__(
        self,
        source: str,
        event_types: Sequence[str] | str,
        max_attempts: int = 5,
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.event_types = [event_types] if isinstance(event_types, str) else list(event_types)
        self.max_attempts = max_attempts
        # For the queue metrics (queue_metrics.py): deliveries held now, and the occurred_at
        # (unix seconds) of the newest event a worker applied.
        self.unacked = 0
        self.newest_applied: float | None = None
        super().__init__(**kwargs)

    def routing_keys(self) -> list[str]:
        """The contract routing keys of the wanted types, or every key for `*`."""
        if ALL_EVENTS in self.event_types:
            return ["#"]
        return sorted({REGISTRY.contract(t).routing_key for t in self.event_types})

    def setup(self) -> None:
        """Declare nothing yet (the broker may be down); describe the queue and register."""
        service = self.container.service_name
        self.queue_name = queue_name(service, self.method_name)
        self.dlq_name = dead_letter_queue_name(service, self.method_name)
        self.amqp_uri = self.container.config["AMQP_URI"]
        # Passive: the producer's exchange must exist (`carnet broker setup` declares it) and
        # this service's broker user may not configure it (broker_users.py).
        exchange = Exchange(f"{self.source}.events", "topic", durable=True, passive=True)
        self.queue = Queue(
            self.queue_name,
            bindings=[binding(exchange, routing_key=rk) for rk in self.routing_keys()],
            durable=True,
            # Delivery limit and the backstop DLX come from the policy (deploy/rabbitmq).
            queue_arguments={"x-queue-type": "quorum"},
        )
        self.dead_letter_queue = Queue(
            self.dlq_name,
            exchange=Exchange(DLX, "direct", durable=True, passive=True),
            routing_key=self.queue_name,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )
        self.queue_consumer.register_provider(self)

    def start(self) -> None:
        """Declare the dead-letter queue before the first message can need it.

        carnet.dlx and the broker's backstop queue are the topology step's (broker.py).
        """
        with Connection(self.amqp_uri) as conn:
            conn.ensure_connection(
                errback=lambda exc, interval: log.warning(
                    "dependency.unavailable",
                    dependency="rabbitmq",
                    retry_in_s=interval,
                    error=type(exc).__name__,
                ),
                max_retries=None,
            )
            channel = conn.default_channel
            self.dead_letter_queue(channel).declare()

    def stop(self) -> None:
        """Cancel our consumer; in-flight workers finish and ack first."""
        self.queue_consumer.unregister_provider(self)

    # -- message flow -------------------------------------------------------------------------
    @property
    def prefetch(self) -> int | None:
        """Deliveries the broker may hold out to this consumer (None: nameko's per-container)."""
        return None

    def handle_raw_message(self, message: Any) -> None:
        """Decode; poison goes to the DLQ now, a valid event goes to a worker."""
        event = self.accepted(message)
        if event is not None:
            self.deliver(message, event)

    def accepted(self, message: Any) -> Any:
        """The message's event if a worker should apply it; else None (settled here)."""
        self.held(+1)
        if message.delivery_info.get("redelivered") or delivery_count(message) > 0:
            CONSUMER_REDELIVERED.labels(self.queue_name).inc()
        try:
            event = decode(
                message.body,
                message.content_type,
                message.properties,
                message.headers or {},
                message.delivery_info.get("exchange", ""),
            )
        except PoisonMessage as poison:
            self.dead_letter(message, poison.reason, poison.detail)
            return None
        except Exception as error:
            # A decoding bug would otherwise escape into nameko's thread and kill the container
            # (every queue of the service); the message is kept, with the error's kind.
            log.exception("message.decode_failed", queue=self.queue_name)
            self.dead_letter(message, "decode-failed", type(error).__name__)
            return None
        if ALL_EVENTS not in self.event_types and event.event_type not in self.event_types:
            if message.delivery_info.get("exchange", "") == REPLAY_EXCHANGE:
                # `carnet replay publish` without --type sends a service's whole history:
                # the types this queue does not consume are skipped, as its bindings would.
                log.info("message.replay_type_skipped", queue=self.queue_name,
                         event_type=event.event_type, event_id=str(event.event_id))  # fmt: skip
                self.ack(message)
                return None
            # A routing key names one type, so only a mislabelled message gets here from the
            # producer's exchange: the handler would misread its payload.
            detail = f"{event.event_type} is not consumed by {self.queue_name}"
            self.dead_letter(message, "unexpected-event-type", detail)
            return None
        return event

    def deliver(self, message: Any, event: Any) -> None:
        """One worker for this one event; its result settles the message."""
        context = {
            "correlation_id": event.correlation_id,
            "causation_id": str(event.event_id),
            **trace_headers(event.headers),
        }
        try:
            self.container.spawn_worker(
                self,
                (event,),
                {},
                context_data=context,
                handle_result=partial(self.handle_result, message),
            )
        except ContainerBeingKilled:
            self.requeue(message)

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any = None, exc_info: Any = None
    ) -> tuple[Any, Any]:
        """Ack on success; requeue a failure; dead-letter the last allowed failure."""
        if exc_info is None:
            self.ack(message)
            self.applied(worker_ctx.args[0])
            return result, exc_info
        self.failed(message, exc_info)
        return result, exc_info

    def failed(self, message: Any, exc_info: Any) -> None:
        """A worker raised over this message: dead-letter poison, else requeue or give up."""
        if isinstance(exc_info[1], PoisonMessage):  # the handler found what no retry fixes
            self.dead_letter(message, exc_info[1].reason, exc_info[1].detail)
            return
        attempts = delivery_count(message) + 1
        if attempts >= self.max_attempts:
            error = exc_info[1]
            self.dead_letter(
                message, "handler-failed", f"{type(error).__name__} after {attempts} attempts"
            )
        else:
            log.warning(
                "message.requeued",
                queue=self.queue_name,
                attempt=attempts,
                error=type(exc_info[1]).__name__,
                event_id=message.properties.get("message_id"),
            )
            MESSAGES_REQUEUED.labels(self.queue_name).inc()
            self.requeue(message)

    def dead_letter(self, message: Any, reason: str, detail: str) -> None:
        """Publish the untouched body to our DLQ with the reason (confirmed), then ack."""
        headers = dead_letter_headers(message, self.queue_name, reason, detail)
        props = message.properties
        try:
            publish_to_dlq(self.amqp_uri, self.queue_name, message, headers)
        except Exception:
            # Could not park it: leave it to the broker (requeue) rather than lose it.
            log.error("message.dead_letter_failed", queue=self.queue_name, exc_info=sys.exc_info())
            self.requeue(message)
            return
        MESSAGES_DEAD_LETTERED.labels(self.queue_name, reason).inc()
        log.error(
            "message.dead_lettered",
            queue=self.queue_name,
            dlq=self.dlq_name,
            reason=reason,
            detail=detail,
            event_id=props.get("message_id"),
            event_type=props.get("type"),
        )
        self.ack(message)

    # -- settling, counted for carnet_consumer_messages_unacked --------------------------------
    def ack(self, message: Any) -> None:
        """Ack: the broker forgets the message."""
        self.queue_consumer.ack_message(message)
        self.held(-1)

    def requeue(self, message: Any) -> None:
        """Give the message back to the broker (a later attempt, here or in another replica)."""
        self.queue_consumer.requeue_message(message)
        self.held(-1)

    def held(self, change: int) -> None:
        """One more (or one fewer) delivery this process holds unsettled."""
        self.unacked += change
        CONSUMER_UNACKED.labels(self.queue_name).inc(change)

    def applied(self, event: Any) -> None:
        """Remember the newest occurred_at applied: the consumer's lag is measured from it."""
        try:
            at = datetime.fromisoformat(str(event.occurred_at)).timestamp()
        except (AttributeError, ValueError):
            return  # no occurred_at header (not a relay's message): nothing to measure from
        if self.newest_applied is None or at > self.newest_applied:
            self.newest_applied = at


consume_event = EventConsumer.decorator
