"""A PrincipalCache wired to identity's events drops a suspended connector within one second."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.principals import PrincipalCache
from tests.integration.identity.world import World
from tests.support.amqp import connect, probe_queue

QUEUE = "test.probe.identity.cache"


@pytest.fixture(scope="module")
def world(migrated_database_url: str, broker: str) -> Iterator[World]:
    w = World(migrated_database_url, broker, io.StringIO()).start()
    yield w
    w.close()


def follow(amqp_uri: str, cache: PrincipalCache, stop: threading.Event) -> None:
    """What booking will do: apply every identity event to its cache."""
    with connect(amqp_uri) as conn:
        ch = conn.channel()
        for method, props, body in ch.consume(QUEUE, inactivity_timeout=0.05):
            if method is not None:
                cache.on_identity_event(props.type, json.loads(body))
                ch.basic_ack(method.delivery_tag)
            if stop.is_set():
                break
        ch.cancel()


@pytest.mark.parametrize("how", ["operator", "detection"])
def test_no_cached_principal_survives_suspension_by_a_second(world, how):
    probe_queue(world.amqp_uri, QUEUE, "identity.events", "connector.*")
    c = world.post("/v1/connectors", {"name": "S", "vendor": "V", "contact_email": "o@example.org"})
    c = c.json()
    token = world.token(c["client_id"], c["client_secret"]).json()["access_token"]
    stop = threading.Event()
    with ClusterRpcProxy({"AMQP_URI": world.amqp_uri}) as proxy:
        cache = PrincipalCache(proxy.identity.authenticate, ttl_s=60)  # TTL alone would be 60 s
        follower = threading.Thread(target=follow, args=(world.amqp_uri, cache, stop), daemon=True)
        follower.start()
        assert cache.get(token)["id"] == c["connector_id"]
        started = time.monotonic()
        if how == "operator":
            r = world.post(f"/v1/connectors/{c['connector_id']}/suspend", {})
            assert r.status_code == 200
        else:
            world.detect(c["connector_id"])
        refused_after = None
        while time.monotonic() - started < 5:
            try:
                cache.get(token)
            except RemoteError as error:
                assert error.exc_type == "AuthenticationError"
                refused_after = time.monotonic() - started
                break
            time.sleep(0.02)
        stop.set()
        follower.join(5)
    assert refused_after is not None
    print(f"{how}: refused after {refused_after:.3f} s")
    assert refused_after < 1.0, refused_after
