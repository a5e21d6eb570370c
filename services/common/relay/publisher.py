"""pika publisher with batched publisher confirms: one round trip waits for a whole batch."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.spec import Basic

from services.common.amqp import pika_parameters


class PublishFailed(Exception):
    """The broker refused (nack) or did not confirm a batch: republish it from the log."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One AMQP message: where it goes, its body and its properties."""

    exchange: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties


@dataclass
class ConfirmTracker:
    """Delivery tags awaiting the broker's ack; 'multiple' acks clear every tag up to one."""

    pending: set[int] = field(default_factory=set)
    nacked: bool = False

    def on_confirm(self, frame: Any) -> None:
        """pika callback for Basic.Ack / Basic.Nack on a confirm-mode channel."""
        method = frame.method
        tags = (
            {t for t in self.pending if t <= method.delivery_tag}
            if method.multiple
            else {method.delivery_tag}
        )
        self.pending -= tags
        if isinstance(method, Basic.Nack):
            self.nacked = True


class ConfirmingPublisher:
    """Publishes batches on a BlockingConnection, waiting once per batch for every confirm.

    pika's BlockingChannel.basic_publish waits for each confirm in turn (one round trip per
    message); the underlying channel (`_impl`) lets us send a batch and then wait for all
    confirms together, which is what "batched confirms" means.
    """

    def __init__(self, amqp_uri: str, heartbeat: int = 30) -> None:
        self.params = pika_parameters(amqp_uri, heartbeat=heartbeat, blocked_connection_timeout=30)
        self.connection: pika.BlockingConnection | None = None
        self.tracker = ConfirmTracker()
        self.next_tag = 1
        self.declared: set[str] = set()

    def connect(self) -> None:
        """Open the connection and put the channel in confirm mode."""
        self.connection = pika.BlockingConnection(self.params)
        channel = self.connection.channel()
        self.channel = channel
        self.tracker = ConfirmTracker()
        selected: list[bool] = []
        # Confirm mode on the underlying channel with our tracker as the ack/nack callback.
        channel._impl.confirm_delivery(
            ack_nack_callback=self.tracker.on_confirm,
            callback=lambda _frame: selected.append(True),
        )
        while not selected:
            self.connection.process_data_events(time_limit=0.05)
        self.next_tag = 1
        self.declared = set()

    def declare_exchange(self, exchange: str) -> None:
        """Durable topic exchange, as nameko's convention `<service>.events` expects."""
        if exchange not in self.declared:
            assert self.connection is not None
            self.channel.exchange_declare(exchange, "topic", durable=True)
            self.declared.add(exchange)

    def publish_batch(self, messages: Sequence[OutgoingMessage], timeout: float = 30.0) -> None:
        """Publish all, then block until the broker confirms all; raise if any is refused."""
        self.send(messages)
        self.wait_for_confirms(timeout)

    def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish all without waiting for the confirms: wait_for_confirms() collects them.

        Split from the wait so that the relay can read its next batch meanwhile. pika only
        buffers what basic_publish frames; one pass of the I/O loop hands it to the socket,
        so the broker works on the batch while the caller does something else.
        """
        if self.connection is None or self.connection.is_closed:
            self.connect()
        assert self.connection is not None
        for message in messages:
            self.declare_exchange(message.exchange)
        impl = self.channel._impl
        pending = self.tracker.pending
        for message in messages:
            impl.basic_publish(
                exchange=message.exchange,
                routing_key=message.routing_key,
                body=message.body,
                properties=message.properties,
            )
            pending.add(self.next_tag)
            self.next_tag += 1
        self.connection.process_data_events(time_limit=0)

    def wait_for_confirms(self, timeout: float = 30.0) -> None:
        """Block until the broker confirmed everything sent; raise if it refused any."""
        assert self.connection is not None
        deadline = time.monotonic() + timeout
        while self.tracker.pending and not self.tracker.nacked:
            if time.monotonic() > deadline:
                raise PublishFailed(f"{len(self.tracker.pending)} messages not confirmed in time")
            self.connection.process_data_events(time_limit=0.05)
        if self.tracker.nacked:
            self.tracker.nacked = False
            self.tracker.pending.clear()
            raise PublishFailed("broker nacked a message of the batch")

    def keep_alive(self) -> None:
        """Between batches: answer the broker's heartbeats, which pika does only when its I/O
        loop runs. An idle relay otherwise lost its connection after two missed heartbeats
        (~60 s), and its next publish failed with three ERROR lines before a retry."""
        if self.connection is not None and self.connection.is_open:
            try:
                self.connection.process_data_events(time_limit=0)
            except Exception:  # a dead connection is reopened by the next send
                self.close()

    def close(self) -> None:
        """Close quietly: a dead connection has nothing left to flush."""
        if self.connection is not None and self.connection.is_open:
            with contextlib.suppress(Exception):  # a broken connection may raise anything
                self.connection.close()
        self.connection = None
