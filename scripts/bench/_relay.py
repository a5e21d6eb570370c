"""Relay workload: prebuilt messages with batched confirms vs Relay.publish_once, in turn."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pika

from scripts.bench._payload import PRODUCER
from scripts.bench._read import PAGE, pooled_store
from services.common.eventstore import LogCursor
from services.common.relay.messages import to_message
from services.common.relay.publisher import ConfirmingPublisher, OutgoingMessage
from services.common.relay.relay import Relay
from services.common.relay.routing import routing_key_for

BATCH = 500  # Relay's default batch_size
QUEUE = "bench.relay"
EXCHANGE = f"{PRODUCER}.events"


def declare_queue(amqp_uri: str) -> None:
    """The exchange and a quorum queue bound to everything, so messages are routed and kept."""
    with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as conn:
        channel = conn.channel()
        channel.exchange_declare(EXCHANGE, "topic", durable=True)
        channel.queue_declare(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(QUEUE, EXCHANGE, "#")


def drain_queue(amqp_uri: str, expected: int) -> None:
    """Check every message reached the queue, then purge it for the next measurement."""
    with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as conn:
        channel = conn.channel()
        depth = channel.queue_declare(QUEUE, passive=True).method.message_count
        channel.queue_purge(QUEUE)
    assert depth == expected, f"the queue holds {depth} messages, not {expected}"


def relay_messages(database_url: str, schema: str) -> list[OutgoingMessage]:
    """The very messages the relay sends for this log, built once, outside any timing."""
    with pooled_store(database_url, schema) as store:
        messages, cursor = [], LogCursor.start()
        while events := store.read_all_raw(cursor, limit=PAGE):
            messages += [to_message(e, PRODUCER, routing_key_for(e.event_type)) for e in events]
            cursor = events[-1].cursor
    return messages


@contextmanager
def raw_publisher(amqp_uri: str) -> Iterator[ConfirmingPublisher]:
    """A confirm-mode channel with the exchange declared."""
    publisher = ConfirmingPublisher(amqp_uri)
    publisher.connect()
    publisher.declare_exchange(EXCHANGE)
    try:
        yield publisher
    finally:
        publisher.close()


@contextmanager
def relay_for(database_url: str, schema: str, amqp_uri: str, name: str) -> Iterator[Relay]:
    """A Relay ready to publish: connected, exchange declared, position connection open."""
    with pooled_store(database_url, schema) as store:
        relay = Relay(store, database_url, schema, PRODUCER, amqp_uri, routing_key_for, name=name)
        relay.publisher.connect()
        relay.publisher.declare_exchange(EXCHANGE)
        try:
            yield relay
        finally:
            relay.publisher.close()
            relay.position.close()


def publish_both(
    database_url: str,
    schema: str,
    amqp_uri: str,
    name: str,
    messages: list[OutgoingMessage],
    raw_first: bool,
) -> dict[str, float]:
    """One batch of 500 each in turn until both are done: raw and relay share the same moments."""
    with (
        raw_publisher(amqp_uri) as publisher,
        relay_for(database_url, schema, amqp_uri, name) as relay,
    ):
        cursor = relay.position.load()  # as Relay._lead does before its loop
        offset = 0
        seconds = {"raw": 0.0, "carnet": 0.0}

        def raw_step() -> bool:
            nonlocal offset
            if offset >= len(messages):
                return False
            publisher.publish_batch(messages[offset : offset + BATCH])
            offset += BATCH
            return True

        def relay_step() -> bool:
            nonlocal cursor
            new_cursor = relay.publish_once(cursor)
            moved, cursor = new_cursor != cursor, new_cursor
            return moved

        steps: dict[str, Callable[[], bool]] = {"raw": raw_step, "carnet": relay_step}
        live = ["raw", "carnet"] if raw_first else ["carnet", "raw"]
        while live:
            for side in list(live):
                start = time.monotonic()
                more = steps[side]()
                seconds[side] += time.monotonic() - start
                if not more:
                    live.remove(side)
    assert relay.stats.published == len(messages), f"the relay sent {relay.stats.published}"
    return {side: len(messages) / seconds[side] for side in seconds}
