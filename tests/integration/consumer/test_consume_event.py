"""@consume_event: contract-checked, idempotent, and poison ends in the DLQ with its reason."""

from __future__ import annotations

import io
import json
import time
import uuid

import psycopg
import pytest
from nameko.runners import ServiceRunner

from contracts.registry import REGISTRY
from services.common.broker import dead_letter_queue_name
from services.common.logging import configure_logging
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.common.nameko_ext.logging_context import LoggingContext
from tests.contract.examples import EXAMPLES
from tests.support.amqp import drain, wait_for_depth
from tests.support.poll import eventually
from tests.support.publish import BOOKED, publish, valid_body


class RecorderService:
    name = "notification"
    db = DatabasePool()
    inbox = InboxProvider()
    log = LoggingContext()

    @consume_event("booking", BOOKED, max_attempts=3)
    def on_booked(self, event):
        def effect(conn):
            conn.execute(
                "INSERT INTO notification.test_effects (event_id, appointment_id) VALUES (%s, %s)",
                (str(event.event_id), str(event.payload["appointment_id"])),
            )

        ran, _ = self.inbox.once(event.event_id, effect)
        self.log.info("test.handled", ran=ran, event_id=str(event.event_id))

    @consume_event("booking", "AppointmentCancelled", max_attempts=3)
    def on_cancelled(self, event):
        raise RuntimeError("this handler always fails")


@pytest.fixture(scope="module")
def effects_table(migrated_database_url):
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notification.test_effects (event_id uuid, appointment_id text)")
    return migrated_database_url


@pytest.fixture(scope="module")
def logs():
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    return stream


@pytest.fixture(scope="module")
def running(effects_table, broker, logs):
    runner = ServiceRunner({"AMQP_URI": broker, "DATABASE_URL": effects_table})
    runner.add_service(RecorderService)
    runner.start()
    yield effects_table
    runner.stop()


def effects(url, event_id) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM notification.test_effects WHERE event_id = %s", (event_id,)
        ).fetchone()[0]


def wait_effects(url, event_id, n=1, timeout=15.0) -> int:
    """The effect count once it reaches `n` (tests then assert it is exactly n)."""
    return eventually(lambda: (c := effects(url, event_id)) >= n and c, timeout, "the effect")


def dead_letters(amqp_uri, handler, n, timeout=20.0):
    queue = dead_letter_queue_name("notification", handler)
    wait_for_depth(amqp_uri, queue, n, timeout)
    return drain(amqp_uri, queue, until=n, timeout=5)


def test_a_redelivered_event_has_one_effect(running, broker, logs):
    event_id = str(uuid.uuid4())
    publish(broker, valid_body(), message_id=event_id)
    publish(broker, valid_body(), message_id=event_id)
    assert wait_effects(running, event_id) == 1
    time.sleep(1.0)  # give the duplicate every chance to apply twice
    assert effects(running, event_id) == 1
    handled = [json.loads(x) for x in logs.getvalue().splitlines() if event_id in x]
    handled = [h for h in handled if h["event"] == "test.handled"]
    assert sorted(h["ran"] for h in handled) == [False, True]
    assert {h["correlation_id"] for h in handled} == {"corr-consumer-1"}
    assert {h["causation_id"] for h in handled} == {event_id}


@pytest.mark.parametrize(
    ("body", "kwargs", "reason"),
    [
        (b"\x00\xffnot json at all", {}, "malformed-json"),
        (None, {"content_type": "text/plain"}, "wrong-content-type"),
        (json.dumps({"appointment_id": "not-a-uuid"}).encode(), {}, "schema-invalid"),
        (None, {"version": 99}, "unsupported-schema-version"),
        (None, {"app_id": "identity"}, "forged-producer"),
    ],
)
def test_poison_goes_to_the_dead_letter_queue_with_its_reason(
    running, broker, body, kwargs, reason
):
    message_id = publish(broker, body or valid_body(), **kwargs)
    ((props, raw),) = dead_letters(broker, "on_booked", 1)
    assert props.headers["x-carnet-reason"] == reason
    assert props.headers["x-carnet-queue"] == "carnet.q.notification.on_booked"
    assert props.message_id == message_id
    assert raw == (body or valid_body())  # the body is kept untouched for inspection
    assert effects(running, message_id) == 0
    # and the consumer keeps consuming
    after = publish(broker, valid_body())
    assert wait_effects(running, after) == 1


def test_a_handler_that_keeps_failing_is_dead_lettered_after_max_attempts(running, broker):
    message_id = publish(
        broker, valid_body("AppointmentCancelled"), event_type="AppointmentCancelled"
    )
    ((props, _raw),) = dead_letters(broker, "on_cancelled", 1, timeout=30)
    assert props.message_id == message_id
    assert props.headers["x-carnet-reason"] == "handler-failed"
    assert "RuntimeError after 3 attempts" in props.headers["x-carnet-detail"]


def test_a_replayed_type_the_queue_does_not_consume_is_skipped_not_dead_lettered(
    running, broker, logs
):
    queue = "carnet.q.notification.on_booked"
    slot_opened = json.dumps(REGISTRY.dump_payload("SlotsOpened", EXAMPLES["SlotsOpened"]))
    skipped = publish(broker, slot_opened.encode(), event_type="SlotsOpened", exchange="",
                      routing_key=queue)  # fmt: skip
    after = publish(broker, valid_body(), exchange="", routing_key=queue)
    assert wait_effects(running, after) == 1  # the replay goes on past the skipped type
    lines = [json.loads(x) for x in logs.getvalue().splitlines() if skipped in x]
    assert [x["event"] for x in lines] == ["message.replay_type_skipped"]
    # The same mislabelled type through the producer's exchange is dead-lettered.
    mislabelled = publish(broker, slot_opened.encode(), event_type="SlotsOpened",
                          routing_key=REGISTRY.contract(BOOKED).routing_key)  # fmt: skip
    ((props, _raw),) = dead_letters(broker, "on_booked", 1)
    assert props.message_id == mislabelled
    assert props.headers["x-carnet-reason"] == "unexpected-event-type"
