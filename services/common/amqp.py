"""One `AMQP_URI` for a single node or a cluster: kombu's failover form `uri;uri;uri`.

nameko and kombu read that form themselves (they connect to the first node that answers and
fail over in turn). pika does not: its connections take a list of parameters and try each, so
every pika connection in Carnet is opened here (docs/deploy.md "RabbitMQ").
"""

from __future__ import annotations

from typing import Any

import pika


def node_uris(amqp_uri: str) -> list[str]:
    """Each node's URI, in the order given."""
    uris = [part.strip() for part in amqp_uri.split(";") if part.strip()]
    if not uris:
        raise ValueError("AMQP_URI names no node")
    return uris


def pika_parameters(amqp_uri: str, **settings: Any) -> list[pika.URLParameters]:
    """One pika parameter set per node, each with `settings` (heartbeat, timeouts)."""
    params = []
    for uri in node_uris(amqp_uri):
        p = pika.URLParameters(uri)
        for name, value in settings.items():
            setattr(p, name, value)
        params.append(p)
    return params


def pika_connection(amqp_uri: str, **settings: Any) -> pika.BlockingConnection:
    """A blocking connection to the first node that accepts it."""
    return pika.BlockingConnection(pika_parameters(amqp_uri, **settings))
