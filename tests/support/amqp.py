"""Small pika helpers for tests: declare a probe queue, drain it, publish raw messages."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pika

from tests.support.poll import eventually


def connect(amqp_uri: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(amqp_uri))


def probe_queue(amqp_uri: str, name: str, exchange: str, routing_key: str = "#") -> None:
    """A durable quorum queue bound to `exchange`, declared before anything is published."""
    with connect(amqp_uri) as conn:
        ch = conn.channel()
        ch.exchange_declare(exchange, "topic", durable=True)
        ch.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
        ch.queue_bind(name, exchange, routing_key)


def queue_depth(amqp_uri: str, name: str) -> int:
    with connect(amqp_uri) as conn:
        return conn.channel().queue_declare(name, passive=True).method.message_count


def consumer_count(amqp_uri: str, name: str) -> int:
    """Consumers on `name` now (0 when it is not declared yet), unlike the management API's
    statistics, which lag by seconds."""
    try:
        with connect(amqp_uri) as conn:
            return conn.channel().queue_declare(name, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0


def deliveries(amqp_uri: str, name: str, until: int, timeout: float = 60.0) -> list[tuple]:
    """Consume (and ack) until `until` messages arrived or `timeout`: (method, properties, body)
    of each, in delivery order."""
    got: list[tuple] = []
    deadline = time.monotonic() + timeout
    with connect(amqp_uri) as conn:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=1000)
        for method, props, body in ch.consume(name, inactivity_timeout=0.5):
            if method is not None:
                got.append((method, props, body))
                ch.basic_ack(method.delivery_tag)
            if len(got) >= until or time.monotonic() > deadline:
                break
        ch.cancel()
    return got


def drain(amqp_uri: str, name: str, until: int, timeout: float = 60.0) -> list[tuple[Any, bytes]]:
    """(properties, body) of what `deliveries` consumed."""
    return [(props, body) for _method, props, body in deliveries(amqp_uri, name, until, timeout)]


def wait_for_depth(amqp_uri: str, name: str, at_least: int, timeout: float = 60.0) -> int:
    """The queue's depth once it reaches `at_least`, else its depth at the timeout: callers
    assert on it, or go on (the relay tests drain whatever came)."""
    with contextlib.suppress(AssertionError):
        return eventually(
            lambda: (d := queue_depth(amqp_uri, name)) >= at_least and (d,),
            timeout,
            f"{at_least} messages in {name}",
            interval=0.1,
        )[0]
    return queue_depth(amqp_uri, name)


def drain_until_ids(amqp_uri: str, name: str, ids: set[str], timeout: float = 60.0) -> list:
    """Consume (and ack) until every message id in `ids` has arrived (duplicates allowed) or
    `timeout`, on one channel: a backlog ahead of them is read in stride, not one connection
    per message (a relay's republished history made that 30 s)."""
    got: list[tuple[Any, bytes]] = []
    missing = set(ids)
    deadline = time.monotonic() + timeout
    with connect(amqp_uri) as conn:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=1000)
        for method, props, body in ch.consume(name, inactivity_timeout=0.5):
            if method is not None:
                got.append((props, body))
                ch.basic_ack(method.delivery_tag)
                missing.discard(props.message_id)
            if not missing or time.monotonic() > deadline:
                break
        ch.cancel()
    return got
