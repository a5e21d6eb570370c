"""One AMQP_URI for a node or a cluster (kombu's `uri;uri` form), as pika connects to it."""

from __future__ import annotations

import pytest

from services.common.amqp import node_uris, pika_parameters
from services.common.broker import vhost_of

CLUSTER = "amqp://u:p@127.0.0.1:5701/carnet; amqp://u:p@127.0.0.1:5702/carnet;"


def test_a_cluster_uri_names_each_node_in_order():
    assert node_uris(CLUSTER) == [
        "amqp://u:p@127.0.0.1:5701/carnet",
        "amqp://u:p@127.0.0.1:5702/carnet",
    ]
    assert node_uris(CLUSTER)[0].endswith(":5701/carnet") and vhost_of(CLUSTER) == "carnet"


def test_pika_gets_one_parameter_set_per_node_with_the_same_settings():
    params = pika_parameters(CLUSTER, heartbeat=7, blocked_connection_timeout=30)
    assert [p.port for p in params] == [5701, 5702]
    assert {(p.heartbeat, p.blocked_connection_timeout, p.virtual_host) for p in params} == {
        (7, 30, "carnet")
    }


def test_a_single_node_is_a_cluster_of_one_and_an_empty_uri_is_refused():
    assert node_uris("amqp://guest:guest@127.0.0.1:5672/") == ["amqp://guest:guest@127.0.0.1:5672/"]
    with pytest.raises(ValueError, match="names no node"):
        node_uris(" ; ")
