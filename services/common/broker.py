"""Broker topology shared by every service: queue names, dead-letter exchange, policies."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import requests

# Two dead-letter paths (docs/adr/0004-dead-letters.md):
# - DLX (direct): the consumer parks a message it cannot handle in its own DLQ, with the
#   reason in headers; the routing key is the consumer queue's name.
# - LIMIT_DLX (fanout, set by policy): the broker's backstop when a message exceeds the
#   delivery-limit without the consumer deciding (e.g. the process dies on it every time);
#   x-death in the message names the queue it came from.
DLX = "carnet.dlx"
LIMIT_DLX = "carnet.dlx.delivery-limit"
LIMIT_DLQ = "carnet.dlq.delivery-limit"
QUEUE_PREFIX = "carnet.q."
DLQ_PREFIX = "carnet.dlq."
# Queues an earlier release declared and none consumes now: `carnet broker setup` deletes them,
# or what is routed to them would pile up for good. The principal caches' invalidation
# moved to a queue per process (nameko_ext/broadcast.py).
# RPC requests moved from nameko's classic `rpc-<service>` to quorum queues (quorum_rpc.py):
# left bound, the old queue would collect a copy of every request.
RETIRED_QUEUES = ("carnet.q.booking.on_access_revoked", "rpc-identity", "rpc-booking")
POLICIES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "policies.json"


def queue_name(service: str, handler: str) -> str:
    """A consumer's own durable quorum queue (one per handler, so each has its own DLQ)."""
    return f"{QUEUE_PREFIX}{service}.{handler}"


def dead_letter_queue_name(service: str, handler: str) -> str:
    """Where that handler's poison and exhausted messages wait for an operator."""
    return f"{DLQ_PREFIX}{service}.{handler}"


def vhost_of(amqp_uri: str) -> str:
    """The vhost an AMQP URI names ('/' when it names none)."""
    path = urlparse(amqp_uri.split(";")[0].strip()).path  # a cluster's nodes share it
    return unquote(path[1:]) if len(path) > 1 else "/"


def apply_policies(amqp_uri: str, management_url: str, auth: tuple[str, str]) -> list[str]:
    """PUT every policy of deploy/rabbitmq/policies.json into the URI's vhost; return names."""
    vhost = quote(vhost_of(amqp_uri), safe="")
    spec = json.loads(POLICIES_FILE.read_text())
    names = []
    for policy in spec["policies"]:
        body = {k: policy[k] for k in ("pattern", "apply-to", "priority", "definition")}
        r = requests.put(
            f"{management_url}/api/policies/{vhost}/{quote(policy['name'], safe='')}",
            json=body,
            auth=auth,
            timeout=10,
        )
        r.raise_for_status()
        names.append(policy["name"])
    return names


def declare_dead_letter_topology(amqp_uri: str) -> None:
    """Declare both dead-letter exchanges and the backstop queue (idempotent)."""
    from services.common.amqp import pika_connection

    with pika_connection(amqp_uri) as conn:
        ch = conn.channel()
        ch.exchange_declare(DLX, "direct", durable=True)
        ch.exchange_declare(LIMIT_DLX, "fanout", durable=True)
        ch.queue_declare(LIMIT_DLQ, durable=True, arguments={"x-queue-type": "quorum"})
        ch.queue_bind(LIMIT_DLQ, LIMIT_DLX, "")


def retire_queues(amqp_uri: str) -> list[str]:
    """Delete every RETIRED_QUEUES queue that exists; the names deleted."""
    import pika

    from services.common.amqp import pika_connection

    deleted = []
    with pika_connection(amqp_uri) as conn:
        for name in RETIRED_QUEUES:
            ch = conn.channel()
            try:
                ch.queue_declare(name, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                continue  # not there (404 closes the channel)
            ch.queue_delete(name)
            ch.close()
            deleted.append(name)
    return deleted
