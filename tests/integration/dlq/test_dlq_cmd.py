"""`carnet dlq` against a real RabbitMQ: poison is parked by a real consumer, then handled."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import psycopg
import pytest
from click.testing import CliRunner, Result
from nameko.runners import ServiceRunner
from structlog.testing import capture_logs

from contracts.registry import REGISTRY
from services.cli.dlq_cmd import dlq
from services.common.broker import dead_letter_queue_name
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.inbox_provider import InboxProvider
from tests.contract.examples import EXAMPLES
from tests.support.amqp import connect, queue_depth, wait_for_depth
from tests.support.infra import RABBIT_MGMT
from tests.support.poll import eventually

BOOKED = "AppointmentBooked"
DLQ = dead_letter_queue_name("notification", "on_booked")
FLAG: dict[str, Path] = {}  # the "bug": the handler fails while this file exists


class FlakyService:
    """Fails while the flag file exists (the bug), then records its effect through the inbox."""

    name = "notification"
    db = DatabasePool()
    inbox = InboxProvider()

    @consume_event("booking", BOOKED, max_attempts=2)
    def on_booked(self, event) -> None:
        if FLAG["path"].exists():
            raise RuntimeError("bug not fixed yet")

        def effect(conn) -> None:
            conn.execute(
                "INSERT INTO notification.dlq_test_effects (event_id) VALUES (%s)",
                (str(event.event_id),),
            )

        self.inbox.once(event.event_id, effect)


@pytest.fixture(scope="module")
def effects_db(migrated_database_url: str) -> str:
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notification.dlq_test_effects (event_id uuid)")
    return migrated_database_url


@pytest.fixture
def running(effects_db: str, fresh_broker: str, tmp_path: Path) -> Iterator[str]:
    FLAG["path"] = tmp_path / "bug"
    runner = ServiceRunner({"AMQP_URI": fresh_broker, "DATABASE_URL": effects_db})
    runner.add_service(FlakyService)
    runner.start()
    yield fresh_broker
    runner.stop()


def publish(uri: str, body: bytes) -> str:
    """An AppointmentBooked as the booking service would publish it; returns its message id."""
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=str(uuid.uuid4()),
        type=BOOKED,
        app_id="booking",
        correlation_id="corr-dlq-1",
        headers={
            "schema_version": REGISTRY.latest_version(BOOKED),
            "stream": "appointment-dlq-test",
            "stream_version": 1,
            "position": 1,
        },
    )
    with connect(uri) as conn:
        conn.channel().basic_publish(
            "booking.events", REGISTRY.contract(BOOKED).routing_key, body, props
        )
    return props.message_id


def valid_body() -> bytes:
    return json.dumps(REGISTRY.dump_payload(BOOKED, EXAMPLES[BOOKED])).encode()


def cli(*args: str) -> Result:
    return CliRunner().invoke(dlq, list(args), catch_exceptions=False)


def effects(url: str, event_id: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM notification.dlq_test_effects WHERE event_id = %s", (event_id,)
        ).fetchone()[0]


def park_poison(uri: str, n: int) -> list[str]:
    """n malformed messages, dead-lettered by the real consumer."""
    ids = [publish(uri, b"\x00secret-patient-name") for _ in range(n)]
    assert wait_for_depth(uri, DLQ, n, timeout=20) == n
    return ids


def test_every_command_has_help() -> None:
    for cmd in ([], ["list"], ["show"], ["requeue"], ["drop"]):
        result = CliRunner().invoke(dlq, [*cmd, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_list_counts_and_show_hides_bodies(running: str) -> None:
    ids = park_poison(running, 2)
    listed = cli("list", "--amqp-uri", running, "--management-url", RABBIT_MGMT).output
    rows = dict(line.split() for line in listed.splitlines()[1:])
    assert rows == {DLQ: "2", "carnet.dlq.delivery-limit": "0"}

    shown = cli("show", DLQ, "--amqp-uri", running).output
    assert "malformed-json" in shown and all(i in shown for i in ids)
    assert "secret-patient-name" not in shown
    assert queue_depth(running, DLQ) == 2  # show consumes nothing
    with_body = cli("show", DLQ, "--amqp-uri", running, "--limit", "1", "--show-body").output
    assert "secret-patient-name" in with_body
    assert queue_depth(running, DLQ) == 2


def test_requeue_makes_a_fixed_consumer_process_the_message_once(
    running: str, effects_db: str
) -> None:
    FLAG["path"].touch()
    other = park_poison(running, 1)[0]
    event_id = publish(running, valid_body())
    assert wait_for_depth(running, DLQ, 2, timeout=30) == 2
    assert "handler-failed" in cli("show", DLQ, "--amqp-uri", running).output
    assert effects(effects_db, event_id) == 0

    FLAG["path"].unlink()  # the fix is deployed
    result = cli("requeue", DLQ, "--amqp-uri", running, "--id", event_id)
    assert result.exit_code == 0 and "1 message(s) requeued" in result.output

    eventually(lambda: effects(effects_db, event_id) >= 1, 15, "the requeued event applied")
    time.sleep(1.0)  # give a duplicate every chance to apply twice
    assert effects(effects_db, event_id) == 1
    assert queue_depth(running, DLQ) == 1  # the other message is untouched
    assert other in cli("show", DLQ, "--amqp-uri", running).output


def test_requeue_needs_exactly_one_selector(running: str) -> None:
    assert CliRunner().invoke(dlq, ["requeue", DLQ, "--amqp-uri", running]).exit_code == 2
    missing = CliRunner().invoke(dlq, ["requeue", DLQ, "--amqp-uri", running, "--id", "nope"])
    assert missing.exit_code == 2 and "no message" in missing.output


def test_drop_removes_exactly_that_message_and_records_it(running: str, tmp_path: Path) -> None:
    gone, kept = park_poison(running, 2)
    trail = tmp_path / "audit" / "drops.jsonl"
    args = ["drop", DLQ, "--amqp-uri", running, "--id", gone, "--trail", str(trail)]
    with capture_logs() as logs:
        result = cli(*args, "--reason", "garbage from a load test")
    assert result.exit_code == 0, result.output

    assert queue_depth(running, DLQ) == 1
    (logged,) = [e for e in logs if e["event"] == "dlq.dropped"]
    assert logged["log_level"] == "warning"
    assert (logged["queue"], logged["message_id"]) == (DLQ, gone)
    assert logged["reason"] == "garbage from a load test"
    shown = cli("show", DLQ, "--amqp-uri", running).output
    assert kept in shown and gone not in shown
    (line,) = trail.read_text().splitlines()
    record = json.loads(line)
    assert record["event"] == "dlq.dropped"
    assert (record["queue"], record["message_id"]) == (DLQ, gone)
    assert record["reason"] == "garbage from a load test"
    assert "secret-patient-name" not in line
    # a second drop of the same id finds nothing, records nothing, and could not run (2)
    assert CliRunner().invoke(dlq, [*args, "--reason", "again"]).exit_code == 2
    assert len(trail.read_text().splitlines()) == 1
