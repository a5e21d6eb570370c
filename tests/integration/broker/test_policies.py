"""The deploy/ policy really gives consumer queues a delivery limit and a dead-letter path."""

import time

import pika

from services.common.broker import LIMIT_DLQ
from tests.support.amqp import connect, drain, queue_depth, wait_for_depth


def test_a_message_requeued_past_the_delivery_limit_lands_in_the_backstop_dlq(broker):
    queue = "carnet.q.test.backstop"
    with connect(broker) as conn:
        ch = conn.channel()
        ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        ch.basic_publish("", queue, b"{}", pika.BasicProperties(message_id="m-backstop"))
        requeues, deadline = 0, time.monotonic() + 20
        while requeues < 30 and time.monotonic() < deadline:
            method, _props, _body = ch.basic_get(queue)
            if method is not None:
                ch.basic_nack(method.delivery_tag, requeue=True)
                requeues += 1
            elif requeues and queue_depth(broker, LIMIT_DLQ) >= 1:
                break  # it has left the queue: dead-lettered by the policy
            else:  # not visible yet: just declared, or just requeued on a loaded machine
                time.sleep(0.05)
        ch.queue_delete(queue)
    assert 5 <= requeues <= 12, f"delivery-limit from the policy not applied ({requeues} requeues)"
    wait_for_depth(broker, LIMIT_DLQ, 1, timeout=10)
    parked = [p for p, _b in drain(broker, LIMIT_DLQ, until=1, timeout=5)]
    assert parked and parked[0].message_id == "m-backstop"
    assert parked[0].headers["x-death"][0]["queue"] == queue


def test_broker_setup_deletes_the_retired_shared_invalidation_queue(fresh_broker):
    from click.testing import CliRunner

    from services.cli.main import cli
    from services.common.broker import RETIRED_QUEUES
    from tests.support.amqp import connect
    from tests.support.infra import RABBIT_AUTH, RABBIT_MGMT
    from tests.support.processes import queue_exists

    retired = RETIRED_QUEUES[0]
    with connect(fresh_broker) as conn:  # as an earlier release declared it, with a backlog
        ch = conn.channel()
        ch.queue_declare(retired, durable=True, arguments={"x-queue-type": "quorum"})
        ch.basic_publish("", retired, b"{}")
    args = ["broker", "setup", "--amqp-uri", fresh_broker, "--management-url", RABBIT_MGMT,
            "--user", RABBIT_AUTH[0], "--password", RABBIT_AUTH[1]]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert f"retired {retired}" in first.output and not queue_exists(fresh_broker, retired)
    again = CliRunner().invoke(cli, args)  # nothing left to retire: said nothing about it
    assert again.exit_code == 0 and "retired" not in again.output


def test_a_retired_queue_still_consumed_is_left_and_named(fresh_broker):
    from services.common.broker import RETIRED_QUEUES, retire_queues
    from tests.support.amqp import connect
    from tests.support.processes import queue_exists

    old = RETIRED_QUEUES[1]  # an old release's RPC queue, its pods still running
    with connect(fresh_broker) as conn:
        ch = conn.channel()
        ch.queue_declare(old, durable=True)
        ch.basic_consume(old, lambda *a: None)
        assert retire_queues(fresh_broker) == ([], [old])
        assert queue_exists(fresh_broker, old)  # its consumers keep being served
    assert retire_queues(fresh_broker) == ([old], [])  # once they are gone
