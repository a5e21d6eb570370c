"""One RabbitMQ user per service, allowed the least its entrypoints need (#24 item 4).

A consumer dead-letters a message whose `app_id` is not the producer of the exchange it came
from (consumed.py). With one shared user that check was as strong as a shared password; with
these permissions only carnet_identity can publish to `identity.events`, so it rests on the
broker's authentication. What each user may do, as RabbitMQ checks it:

- configure (declare, delete): its own exchange, its own queues, dead-letter queues, RPC
  request queue and reply queues. Never another's exchange, nor carnet.dlx or nameko-rpc: the
  topology step (broker.declare_topology, as the admin) declares those, and the services
  declare them passively (consumer.py, quorum_rpc.py), which RabbitMQ checks against nothing.
- write (publish, and be the queue of a queue.bind): its own exchange, carnet.dlx (it parks
  poison messages), nameko-rpc when it calls or serves RPC, and its own queues.
- read (consume, and be the exchange of a queue.bind): its own queues, the exchanges it binds
  from (its sources' `<service>.events`, carnet.dlx for its DLQs, nameko-rpc for RPC).

Nothing matches `amq.default`: no service publishes to the default exchange.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from services.common.broker import DLQ_PREFIX, DLX, QUEUE_PREFIX, RPC_EXCHANGE, RPC_QUEUE_PREFIX

# Whose `<service>.events` each service consumes: the sources of its @consume_* entrypoints
# (tests/unit/test_broker_users.py checks this against the service classes).
SOURCES: dict[str, tuple[str, ...]] = {
    "identity": ("audit",),
    "booking": ("identity",),
    "notification": ("identity", "booking", "audit"),
    "audit": ("identity", "booking", "notification", "audit"),
}
RPC_SERVERS = frozenset({"identity", "booking"})  # @rpc entrypoints: carnet.rpc.<service>
RPC_CLIENTS = frozenset({"booking", "audit"})  # IdentityAuth: a reply queue per process
REPLY_QUEUE_PREFIX = "rpc.reply-"  # nameko's RPC_REPLY_QUEUE_TEMPLATE, "rpc.reply-{}-{}"


def broker_user(service: str) -> str:
    """The RabbitMQ user a service connects as."""
    return f"carnet_{service}"


def exchange_name(service: str) -> str:
    """The topic exchange a service's relay publishes to."""
    return f"{service}.events"


def _literal(name: str) -> str:
    """A name as a regex: Carnet's names hold only letters, digits, `_`, `-` and `.`."""
    return name.replace(".", r"\.")


def _any_of(names: list[str]) -> str:
    """An anchored regex for exactly these names (RabbitMQ's match is unanchored)."""
    return "^(?:" + "|".join(names) + ")$" if names else "^$"


def _own_queues(service: str, dead_letters: bool = True) -> list[str]:
    """Regexes (unanchored parts) of every queue the service declares (or consumes)."""
    own = [
        _literal(f"{QUEUE_PREFIX}{service}.") + ".+",  # consumer queues, broadcast ones too
    ]
    if dead_letters:  # declared and bound, never consumed: an operator drains them
        own.append(_literal(f"{DLQ_PREFIX}{service}.") + ".+")
    if service in RPC_SERVERS:
        own.append(_literal(RPC_QUEUE_PREFIX + service))
    if service in RPC_CLIENTS:
        own.append(_literal(f"{REPLY_QUEUE_PREFIX}{service}-") + ".+")
    return own


def permissions(service: str) -> dict[str, str]:
    """The configure / write / read regexes of `service`'s user on the vhost."""
    own_exchange = _literal(exchange_name(service))
    queues = _own_queues(service)
    rpc = [_literal(RPC_EXCHANGE)] if service in RPC_SERVERS | RPC_CLIENTS else []
    sources = [_literal(exchange_name(source)) for source in SOURCES[service]]
    return {
        "configure": _any_of([own_exchange, *queues]),
        "write": _any_of([own_exchange, _literal(DLX), *rpc, *queues]),
        "read": _any_of([*sources, _literal(DLX), *rpc, *_own_queues(service, False)]),
    }


def passwords_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`<SERVICE>_AMQP_PASSWORD` of each service that has one set (carnet secrets init)."""
    env = os.environ if env is None else env
    found = {s: env.get(f"{s.upper()}_AMQP_PASSWORD", "") for s in SOURCES}
    return {s: password for s, password in found.items() if password}


def service_amqp_uri(
    admin_uri: str, service: str, env: Mapping[str, str] | None = None, user: str | None = None
) -> str:
    """The URI `service` connects with: its own user, on every node the admin URI names.

    `<SERVICE>_AMQP_URI` wins when set; otherwise each node of the admin URI (`uri;uri;uri`)
    with user carnet_<service> (or `user`) and the password `<SERVICE>_AMQP_PASSWORD`, as
    `carnet broker setup` created them.
    """
    env = os.environ if env is None else env
    explicit = env.get(f"{service.upper()}_AMQP_URI")
    if explicit:
        return explicit
    password = quote(env.get(f"{service.upper()}_AMQP_PASSWORD", ""), safe="")
    nodes = []
    for uri in admin_uri.split(";"):
        if not uri.strip():
            continue
        parts = urlsplit(uri.strip())
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{quote(user or broker_user(service), safe='')}:{password}@{host}"
        nodes.append(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return ";".join(nodes)


def ensure_service_users(
    management_url: str,
    auth: tuple[str, str],
    vhost: str,
    passwords: Mapping[str, str],
    users: Mapping[str, str] | None = None,
) -> list[str]:
    """Create or update each service's user (no tags: no management access) and its
    permissions on `vhost`; return the user names. `users` renames them (tests)."""
    base = management_url.rstrip("/")
    done = []
    for service, password in passwords.items():
        name = (users or {}).get(service) or broker_user(service)
        user = quote(name, safe="")
        r = requests.put(
            f"{base}/api/users/{user}",
            json={"password": password, "tags": ""},
            auth=auth,
            timeout=10,
        )
        r.raise_for_status()
        r = requests.put(
            f"{base}/api/permissions/{quote(vhost, safe='')}/{user}",
            json=permissions(service),
            auth=auth,
            timeout=10,
        )
        r.raise_for_status()
        done.append(name)
    return done
