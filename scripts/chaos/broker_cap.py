"""The deployed broker settings hold on the private node: a message over 1 MiB is refused (#18)."""

from __future__ import annotations

from pika.exceptions import ChannelClosedByBroker

from services.common.amqp import pika_connection

CAP = 1_048_576  # deploy/rabbitmq/rabbitmq.conf max_message_size


def refuses_oversized(amqp_uri: str) -> bool:
    """True when a body of CAP bytes is taken and one byte more is refused by the broker itself."""
    connection = pika_connection(amqp_uri)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", "carnet.nowhere", b"x" * CAP)  # unroutable, confirmed: taken
        try:
            channel.basic_publish("", "carnet.nowhere", b"x" * (CAP + 1))
        except ChannelClosedByBroker as closed:
            return closed.reply_code == 406  # PRECONDITION_FAILED: larger than max size
        return False
    finally:
        connection.close()
