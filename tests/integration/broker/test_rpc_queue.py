"""identity's RPC requests wait in a quorum queue (replicated on a cluster), and callers reach
it through nameko's exchange as before (#24 item 1)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.broker import vhost_of
from tests.support.infra import RABBIT_AUTH, RABBIT_MGMT
from tests.support.stack import Stack


@pytest.fixture
def stack(migrated_database_url, fresh_broker):
    s = Stack(migrated_database_url, fresh_broker, ["identity"]).start()
    yield s
    s.close()


def test_identity_serves_rpc_from_a_quorum_queue(stack):
    vhost = quote(vhost_of(stack.amqp_uri), safe="")
    r = requests.get(f"{RABBIT_MGMT}/api/queues/{vhost}", auth=RABBIT_AUTH, timeout=10)
    kinds = {q["name"]: q.get("type") for q in r.json()}
    assert kinds.get("carnet.rpc.identity") == "quorum", kinds
    assert "rpc-identity" not in kinds
    # Answered, and refused: a token identity never issued.
    with (
        ClusterRpcProxy({"AMQP_URI": stack.amqp_uri}) as proxy,
        pytest.raises(RemoteError) as refused,
    ):
        proxy.identity.authenticate(token_sha256="0" * 64)
    assert refused.value.exc_type == "AuthenticationError"
