"""@consume_batch: a burst goes in batches, each event once, a poison one dead-lettered alone."""

from __future__ import annotations

import io
import json
import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from nameko.runners import ServiceRunner

from services.common.broker import dead_letter_queue_name, queue_name
from services.common.consumed import PoisonMessage
from services.common.logging import configure_logging
from services.common.metrics import CONSUMER_BATCHES_SPLIT
from services.common.nameko_ext.batch_consumer import consume_batch
from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.common.nameko_ext.logging_context import LoggingContext
from tests.support.amqp import consumer_count, drain, wait_for_depth
from tests.support.poll import eventually
from tests.support.publish import BOOKED, publish, valid_body

BATCHES: list[int] = []
POISON = "corr-poison"
QUEUE = queue_name("notification", "on_booked_batch")


class BatchService:
    name = "notification"
    db = DatabasePool()
    inbox = InboxProvider()
    log = LoggingContext()

    @consume_batch("booking", BOOKED, max_attempts=3)
    def on_booked_batch(self, events):
        BATCHES.append(len(events))

        def effect(conn, event):
            if event.correlation_id == POISON:  # what no retry fixes, found mid-batch
                raise PoisonMessage("test-poison", "marked by the test")
            conn.execute(
                "INSERT INTO notification.batch_effects (event_id) VALUES (%s)",
                (str(event.event_id),),
            )

        self.inbox.each(events, effect)


@pytest.fixture
def database(migrated_database_url: str) -> str:
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notification.batch_effects (event_id uuid)")
    return migrated_database_url


def _runner(amqp_uri: str, database_url: str) -> ServiceRunner:
    runner = ServiceRunner({"AMQP_URI": amqp_uri, "DATABASE_URL": database_url})
    runner.add_service(BatchService)
    runner.start()
    return runner


@pytest.fixture
def declared(fresh_broker: str, database: str) -> Iterator[str]:
    """The queue and its DLQ exist (a first start), and nothing consumes them now."""
    _runner(fresh_broker, database).stop()
    eventually(lambda: consumer_count(fresh_broker, QUEUE) == 0, what="consumer gone")
    yield fresh_broker


def _effects(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT event_id::text, count(*) FROM notification.batch_effects GROUP BY 1"
        ).fetchall()
    return dict(rows)


def test_a_burst_is_applied_in_batches_and_a_poison_event_is_dead_lettered_alone(
    declared: str, database: str
) -> None:
    good = [str(uuid.uuid4()) for _ in range(40)]
    for event_id in good[:20]:
        publish(declared, valid_body(), message_id=event_id)
    poison = publish(declared, valid_body(), correlation_id=POISON)
    for event_id in good[20:]:
        publish(declared, valid_body(), message_id=event_id)
    publish(declared, valid_body(), message_id=good[0])  # a redelivered copy: no second effect
    split_before = CONSUMER_BATCHES_SPLIT.labels(QUEUE)._value.get()
    BATCHES.clear()
    runner = _runner(declared, database)
    try:
        eventually(lambda: len(_effects(database)) == len(good), what="every good event")
        dlq = dead_letter_queue_name("notification", "on_booked_batch")
        wait_for_depth(declared, dlq, 1, timeout=20)
        ((props, _raw),) = drain(declared, dlq, until=1, timeout=5)
    finally:
        runner.stop()
    assert props.message_id == poison
    assert props.headers["x-carnet-reason"] == "test-poison"
    assert _effects(database) == dict.fromkeys(good, 1)
    assert max(BATCHES) > 1, BATCHES  # the burst did go in batches
    assert CONSUMER_BATCHES_SPLIT.labels(QUEUE)._value.get() == split_before + 1


def test_each_event_of_a_batch_logs_its_own_trace_and_no_callers_state_is_kept(
    declared: str, database: str
) -> None:
    traces = {str(uuid.uuid4()): secrets.token_hex(16) for _ in range(12)}
    for event_id, trace_id in traces.items():
        traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        headers = {"traceparent": traceparent, "tracestate": "crm=pt-1@example.org"}
        publish(declared, valid_body(), message_id=event_id, headers=headers)
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    BATCHES.clear()
    runner = _runner(declared, database)
    try:
        eventually(lambda: set(traces) <= set(_effects(database)), what="every event")
    finally:
        runner.stop()
    assert max(BATCHES) > 1, BATCHES  # they did go in batches
    handled = [
        line
        for line in map(json.loads, stream.getvalue().splitlines())
        if line.get("event") == "event.handled" and line.get("event_id") in traces
    ]
    assert {x["event_id"]: x["trace_id"] for x in handled} == traces
    assert "example.org" not in stream.getvalue()  # a caller's tracestate goes nowhere
