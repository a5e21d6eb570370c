"""Consumer lag, redeliveries and dead-letter depth on a service's /metrics (real broker)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pika
import pytest
from nameko.containers import ServiceContainer

from contracts.registry import REGISTRY
from services.common.broker import dead_letter_queue_name, queue_name
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.consumer import EventConsumer, consume_event
from services.common.nameko_ext.raw_queue import RawQueueConsumer
from services.ops import dead_letters
from tests.contract.examples import EXAMPLES
from tests.integration.metrics.scrape import Scrape, metric, wait_for_metric
from tests.support.amqp import connect
from tests.support.poll import eventually
from tests.support.ports import free_port

BOOKED, CANCELLED, MOVED = "AppointmentBooked", "AppointmentCancelled", "AppointmentRescheduled"
GATE = threading.Event()  # held events wait for it (green under the root conftest's patch)
HOLD: set[str] = set()  # event ids the lag probe holds until GATE opens
FAIL_ONCE: set[str] = set()  # event ids whose first attempt fails
BROKEN: set[str] = set()  # event ids that fail until removed (the bug, then the fix)
APPLIED: list[str] = []

LAG_Q = queue_name("notification", "metrics_lag_probe")
RETRY_Q = queue_name("notification", "metrics_retry_probe")
DLQ_Q = queue_name("notification", "metrics_dlq_probe")
DLQ = dead_letter_queue_name("notification", "metrics_dlq_probe")


class OneAtATime(RawQueueConsumer):
    """A consumer that takes one message at a time (prefetch 1) while workers stay free for HTTP.

    nameko's prefetch is max_workers: with it, messages wait in the broker only once every
    worker is busy, and then /metrics (a worker too) could not answer.
    """

    @property
    def prefetch_count(self) -> int:
        return 1


class SlowConsumer(EventConsumer):
    queue_consumer = OneAtATime()


class ProbeService(CarnetService):
    """A notification-like service: one consumer per behaviour, each on its own queue."""

    name = "notification"

    @SlowConsumer.decorator("booking", CANCELLED)
    def metrics_lag_probe(self, event):
        if str(event.event_id) in HOLD:
            GATE.wait(60)
        APPLIED.append(str(event.event_id))

    @consume_event("booking", BOOKED, max_attempts=3)
    def metrics_retry_probe(self, event):
        if str(event.event_id) in FAIL_ONCE:
            FAIL_ONCE.discard(str(event.event_id))
            raise RuntimeError("first attempt fails")
        APPLIED.append(str(event.event_id))

    @consume_event("booking", MOVED, max_attempts=2)
    def metrics_dlq_probe(self, event):
        if str(event.event_id) in BROKEN:
            raise RuntimeError("bug not fixed yet")
        APPLIED.append(str(event.event_id))


def publish(
    amqp_uri: str,
    event_type: str,
    occurred_at: datetime | None = None,
    body: bytes | None = None,
    event_id: str | None = None,
) -> str:
    """One event on booking.events as booking's relay sends it; returns its id."""
    event_id = event_id or str(uuid.uuid4())
    when = occurred_at or datetime.now(UTC)
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=event_id,
        type=event_type,
        app_id="booking",
        correlation_id=f"corr-{event_id}",
        headers={
            "schema_version": REGISTRY.latest_version(event_type),
            "stream": f"appointment-{event_id}",
            "stream_version": 1,
            "position": 1,
            "occurred_at": when.isoformat(),
        },
    )
    if body is None:
        body = json.dumps(REGISTRY.dump_payload(event_type, EXAMPLES[event_type])).encode()
    with connect(amqp_uri) as conn:
        conn.channel().basic_publish(
            "booking.events", REGISTRY.contract(event_type).routing_key, body, props
        )
    return event_id


def declare_lag_queue(amqp_uri: str) -> None:
    """The lag probe's queue, as the service will declare it, before the service runs."""
    with connect(amqp_uri) as conn:
        ch = conn.channel()
        ch.exchange_declare("booking.events", "topic", durable=True)
        ch.queue_declare(LAG_Q, durable=True, arguments={"x-queue-type": "quorum"})
        ch.queue_bind(LAG_Q, "booking.events", REGISTRY.contract(CANCELLED).routing_key)


def start(database_url: str, amqp_uri: str) -> tuple[ServiceContainer, str]:
    port = free_port()
    container = ServiceContainer(
        ProbeService,
        {
            "AMQP_URI": amqp_uri,
            "DATABASE_URL": database_url,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
            "QUEUE_METRICS_INTERVAL_SECONDS": 0.2,
        },
    )
    container.start()
    return container, f"http://127.0.0.1:{port}"


@pytest.fixture
def service(migrated_database_url, fresh_broker) -> Iterator[tuple[str, str, str]]:
    """The probe with an old backlog already waiting in the lag probe's queue."""
    GATE.clear()
    declare_lag_queue(fresh_broker)
    backlog = datetime.now(UTC) - timedelta(seconds=600)
    first = publish(fresh_broker, CANCELLED, occurred_at=backlog)
    held = [publish(fresh_broker, CANCELLED, occurred_at=backlog) for _ in range(3)]
    HOLD.update(held)
    container, base = start(migrated_database_url, fresh_broker)
    try:
        yield base, fresh_broker, first
    finally:
        GATE.set()
        container.stop()


def test_waiting_messages_and_lag_follow_a_stuck_consumer_then_its_recovery(service):
    base, _, first = service
    # The first old event is applied; the next is held by the worker, two wait in the broker.
    wait_for_metric(base, "carnet_consumer_messages_ready", lambda v: v == 2, queue=LAG_Q)
    assert first in APPLIED
    assert metric(base, "carnet_consumer_messages_unacked", queue=LAG_Q) == 1
    lag = wait_for_metric(
        base, "carnet_consumer_lag_seconds", lambda v: v is not None and v > 0, queue=LAG_Q
    )
    assert 590 <= lag <= 700, lag  # now - occurred_at of the newest event applied
    later = wait_for_metric(
        base, "carnet_consumer_lag_seconds", lambda v: v is not None and v > lag, queue=LAG_Q
    )
    assert later > lag  # stuck: the lag grows

    GATE.set()  # the consumer recovers
    wait_for_metric(base, "carnet_consumer_messages_ready", lambda v: v == 0, queue=LAG_Q)
    wait_for_metric(base, "carnet_consumer_lag_seconds", lambda v: v == 0, queue=LAG_Q)
    scrape = Scrape(base)
    assert scrape.value("carnet_consumer_messages_unacked", queue=LAG_Q) == 0
    assert set(HOLD) <= set(APPLIED)


def test_a_failed_attempt_is_requeued_and_its_redelivery_counted(service):
    base, amqp_uri, _ = service
    redelivered = metric(base, "carnet_consumer_redelivered_total", queue=RETRY_Q)
    requeued = metric(base, "carnet_messages_requeued_total", queue=RETRY_Q)
    calm = publish(amqp_uri, BOOKED)
    flaky = str(uuid.uuid4())
    FAIL_ONCE.add(flaky)
    publish(amqp_uri, BOOKED, event_id=flaky)
    eventually(lambda: calm in APPLIED and flaky in APPLIED, 30, "both applied")
    after = Scrape(base)
    assert after.value("carnet_consumer_redelivered_total", queue=RETRY_Q) == redelivered + 1
    assert after.value("carnet_messages_requeued_total", queue=RETRY_Q) == requeued + 1
    assert APPLIED.count(flaky) == 1


def test_dead_letter_depth_rises_when_a_consumer_parks_and_falls_when_requeued(service, tmp_path):
    base, amqp_uri, _ = service
    wait_for_metric(base, "carnet_dead_letter_messages", lambda v: v == 0, queue=DLQ)
    broken = str(uuid.uuid4())
    BROKEN.add(broken)
    publish(amqp_uri, MOVED, event_id=broken)
    poison = publish(amqp_uri, MOVED, body=b"{not json")
    wait_for_metric(base, "carnet_dead_letter_messages", lambda v: v == 2, queue=DLQ)
    assert metric(base, "carnet_messages_dead_lettered_total", queue=DLQ_Q) >= 2
    assert metric(base, "carnet_consumer_redelivered_total", queue=DLQ_Q) >= 1  # attempt 2

    dead_letters.drop(amqp_uri, DLQ, poison, "unparseable test message", Path(tmp_path) / "t")
    wait_for_metric(base, "carnet_dead_letter_messages", lambda v: v == 1, queue=DLQ)
    BROKEN.discard(broken)  # the fix is deployed
    assert [d.message_id for d in dead_letters.requeue(amqp_uri, DLQ)] == [broken]
    eventually(lambda: broken in APPLIED, 30, "the requeued event applied")
    wait_for_metric(base, "carnet_dead_letter_messages", lambda v: v == 0, queue=DLQ)
