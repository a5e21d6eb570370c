"""A correlation id set by a caller is on the log lines of a second service handling the event."""

import io
import json

import pytest
from nameko.events import EventDispatcher, event_handler
from nameko.rpc import rpc
from nameko.runners import ServiceRunner
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.logging import configure_logging
from services.common.nameko_ext.logging_context import LoggingContext
from tests.support.poll import eventually


class FrontService:
    name = "front"
    log = LoggingContext()
    dispatch = EventDispatcher()

    @rpc
    def act(self):
        self.log.info("front.acted", email="test.patient@example.org")
        self.dispatch("acted", {"n": 1})


class BackService:
    name = "back"
    log = LoggingContext()

    @event_handler("front", "acted")
    def on_acted(self, payload):
        self.log.info("back.handled", n=payload["n"])


@pytest.fixture
def captured():
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    return stream


def lines_with(stream, event):
    out = []
    for raw in stream.getvalue().splitlines():
        line = json.loads(raw)
        if line.get("event") == event:
            out.append(line)
    return out


def test_correlation_id_follows_the_event_to_the_second_service(amqp_uri, captured):
    config = {"AMQP_URI": amqp_uri}
    runner = ServiceRunner(config)
    runner.add_service(FrontService)
    runner.add_service(BackService)
    runner.start()
    try:
        with ClusterRpcProxy(config, context_data={"correlation_id": "corr-e2e-42"}) as proxy:
            proxy.front.act()
        eventually(lambda: lines_with(captured, "back.handled"), 10, "back.handled")
    finally:
        runner.stop()

    (front,) = lines_with(captured, "front.acted")
    (back,) = lines_with(captured, "back.handled")
    assert front["correlation_id"] == "corr-e2e-42" and front["service.name"] == "front"
    assert back["correlation_id"] == "corr-e2e-42" and back["service.name"] == "back"
    assert "example.org" not in captured.getvalue()


def test_a_worker_without_a_correlation_id_gets_a_fresh_one_not_the_previous(amqp_uri, captured):
    config = {"AMQP_URI": amqp_uri}
    runner = ServiceRunner(config)
    runner.add_service(FrontService)
    runner.start()
    try:
        with ClusterRpcProxy(config, context_data={"correlation_id": "first"}) as proxy:
            proxy.front.act()
        with ClusterRpcProxy(config) as proxy:
            proxy.front.act()
    finally:
        runner.stop()
    ids = [line["correlation_id"] for line in lines_with(captured, "front.acted")]
    assert ids[0] == "first" and ids[1] not in (None, "first")
