"""Broker topology shared by every service: exchanges, queue names, dead letters, policies."""

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
# nameko's RPC exchange (its `rpc_exchange` config key's default): requests and replies.
RPC_EXCHANGE = "nameko-rpc"
RPC_QUEUE_PREFIX = "carnet.rpc."  # + service: its RPC requests, a quorum queue (quorum_rpc.py)
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


def declare_topology(amqp_uri: str) -> None:
    """Declare every shared exchange and the backstop queue, as the admin (idempotent).

    Each service's exchange is declared here too, not only by its relay: a service's broker
    user may not configure another's exchange (configure allows deleting it), so consumers
    bind to their producers' exchanges with a passive declare, which needs them to exist.
    """
    from services.common.amqp import pika_connection
    from services.common.config import SERVICES

    with pika_connection(amqp_uri) as conn:
        ch = conn.channel()
        for service in SERVICES:
            ch.exchange_declare(f"{service}.events", "topic", durable=True)
        ch.exchange_declare(RPC_EXCHANGE, "topic", durable=True)
        ch.exchange_declare(DLX, "direct", durable=True)
        ch.exchange_declare(LIMIT_DLX, "fanout", durable=True)
        ch.queue_declare(LIMIT_DLQ, durable=True, arguments={"x-queue-type": "quorum"})
        ch.queue_bind(LIMIT_DLQ, LIMIT_DLX, "")


def missing_exchanges(amqp_uri: str) -> list[str]:
    """The shared exchanges declare_topology makes that the vhost lacks: a service started
    before `carnet broker setup` cannot bind its queues (it checks this before it starts).

    Raises pika's errors when RabbitMQ does not answer; an exchange this user may not even
    look at (403) counts as present: only a 404 says it is missing."""
    import pika

    from services.common.amqp import pika_connection
    from services.common.config import SERVICES

    names = [f"{s}.events" for s in SERVICES] + [RPC_EXCHANGE, DLX, LIMIT_DLX]
    missing = []
    with pika_connection(amqp_uri, socket_timeout=5, connection_attempts=1) as conn:
        for name in names:
            try:
                conn.channel().exchange_declare(name, passive=True)
            except pika.exceptions.ChannelClosedByBroker as closed:
                if closed.reply_code == 404:
                    missing.append(name)
    return missing


def retire_queues(amqp_uri: str) -> tuple[list[str], list[str]]:
    """Delete every RETIRED_QUEUES queue that exists and nothing consumes: (deleted, in use).

    During a rolling upgrade the old release's pods still consume them; deleting those would
    leave their calls unrouted until the new pods start (and the old ones would declare them
    again). They are left, and named: run `carnet broker setup` again once the rollout ends."""
    import pika

    from services.common.amqp import pika_connection

    deleted, in_use = [], []
    with pika_connection(amqp_uri) as conn:
        for name in RETIRED_QUEUES:
            ch = conn.channel()
            try:
                declared = ch.queue_declare(name, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                continue  # 404: not there
            # Counted, not `if_unused`: quorum queues refuse that flag (and close the
            # connection). A consumer attaching in between is an old pod starting: rare.
            if declared.method.consumer_count:
                in_use.append(name)
            else:
                ch.queue_delete(name)
                deleted.append(name)
            ch.close()
    return deleted, in_use
