"""Each service's broker user is allowed what its entrypoints need and nothing of another's."""

from __future__ import annotations

import re

import pytest

from services.common.broker import DLX, RPC_EXCHANGE, dead_letter_queue_name, queue_name
from services.common.broker_users import (
    RPC_CLIENTS,
    RPC_SERVERS,
    SOURCES,
    permissions,
    service_amqp_uri,
)
from services.common.config import SERVICES
from services.common.nameko_ext.consumer import EventConsumer
from services.common.nameko_ext.identity_auth import IdentityAuth
from services.common.nameko_ext.quorum_rpc import QuorumRpc, rpc_queue_name
from tests.support.stack import CLASSES


def entrypoints(cls: type) -> list[object]:
    """Every nameko entrypoint declared on a service class."""
    found = []
    for attr in vars(cls).values():
        found.extend(getattr(attr, "nameko_entrypoints", ()))
    return found


def allows(service: str, kind: str, name: str) -> bool:
    """Whether RabbitMQ would grant `kind` on resource `name` (its match is re's search)."""
    return re.search(permissions(service)[kind], name) is not None


@pytest.mark.parametrize("service", SERVICES)
def test_the_tables_are_what_the_service_classes_declare(service: str) -> None:
    cls = CLASSES[service]
    sources = {e.source for e in entrypoints(cls) if isinstance(e, EventConsumer)}
    assert set(SOURCES[service]) == sources
    assert (service in RPC_SERVERS) == any(isinstance(e, QuorumRpc) for e in entrypoints(cls))
    clients = any(isinstance(v, IdentityAuth) for v in vars(cls).values())
    assert (service in RPC_CLIENTS) == clients


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_writes_its_own_exchange_and_no_others(service: str) -> None:
    for other in SERVICES:
        assert allows(service, "write", f"{other}.events") == (other == service)
        assert allows(service, "configure", f"{other}.events") == (other == service)
    for shared in (DLX, RPC_EXCHANGE, "carnet.dlx.delivery-limit", "amq.default", "amq.topic"):
        assert not allows(service, "configure", shared), shared
    assert not allows(service, "write", "amq.default")  # the default exchange: no queue directly
    assert allows(service, "write", DLX) and allows(service, "read", DLX)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_declares_and_consumes_only_its_own_queues(service: str) -> None:
    for other in SERVICES:
        mine = other == service
        for queue in (queue_name(other, "handler"), f"{queue_name(other, 'h')}.pod-1.ab12"):
            for kind in ("configure", "write", "read"):
                assert allows(service, kind, queue) == mine, (kind, queue)
        assert allows(service, "configure", dead_letter_queue_name(other, "h")) == mine
        assert not allows(service, "read", dead_letter_queue_name(other, "h"))  # an operator's
        assert allows(service, "read", rpc_queue_name(other)) == (mine and other in RPC_SERVERS)
        reply = f"rpc.reply-{other}-0b7e1c4e"
        assert allows(service, "read", reply) == (mine and other in RPC_CLIENTS)
    assert not allows(service, "read", "carnet.dlq.delivery-limit")
    assert not allows(service, "configure", f"carnet.q.{service}")  # no bare prefix
    assert not allows("audit", "read", "carnet.q.auditor.x")  # a longer name is not audit's


def test_reads_follow_the_sources_and_rpc_only_where_used() -> None:
    for service in SERVICES:
        for other in SERVICES:
            assert allows(service, "read", f"{other}.events") == (other in SOURCES[service])
        uses_rpc = service in RPC_SERVERS | RPC_CLIENTS
        assert allows(service, "read", RPC_EXCHANGE) == uses_rpc
        assert allows(service, "write", RPC_EXCHANGE) == uses_rpc
    assert not allows("notification", "read", RPC_EXCHANGE)


def test_service_amqp_uri_is_its_own_user_on_every_node() -> None:
    admin = "amqp://guest:guest@n1:5672/v;amqp://guest:guest@n2:5673/v"
    env = {"BOOKING_AMQP_PASSWORD": "p/w"}
    assert service_amqp_uri(admin, "booking", env) == (
        "amqp://carnet_booking:p%2Fw@n1:5672/v;amqp://carnet_booking:p%2Fw@n2:5673/v"
    )
    explicit = {"BOOKING_AMQP_URI": "amqp://x:y@h/", **env}
    assert service_amqp_uri(admin, "booking", explicit) == "amqp://x:y@h/"
