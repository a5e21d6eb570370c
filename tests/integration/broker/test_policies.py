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
