"""One correlation id from an HTTP caller to the log of another service, through store and relay."""

import io
import json
import uuid

import pytest
import requests
from nameko.runners import ServiceRunner
from nameko.web.handlers import http

from services.common.logging import configure_logging, current_ids
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.event_store import EventStoreProvider
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.common.nameko_ext.logging_context import LoggingContext
from services.common.nameko_ext.relay_runner import RelayRunner
from tests.support.events import new_event
from tests.support.poll import eventually
from tests.support.ports import free_port


class FrontBooking:
    name = "booking"
    db = DatabasePool()
    log = LoggingContext()
    store = EventStoreProvider()
    relay = RelayRunner()

    @http("POST", "/book")
    def book(self, request):
        event = new_event()
        event = type(event)(**{**event.__dict__, "metadata": {**current_ids()}})
        self.store.append(f"appointment-{uuid.uuid4()}", [event], expected_version=0)
        self.log.info("front.booked", event_id=str(event.event_id))
        return 202, str(event.event_id)


class BackNotification:
    name = "notification"
    db = DatabasePool()
    log = LoggingContext()
    inbox = InboxProvider()

    @consume_event("booking", "AppointmentBooked")
    def on_booked(self, event):
        self.inbox.once(event.event_id, lambda conn: None)
        self.log.info("back.handled", event_id=str(event.event_id))


@pytest.fixture
def port() -> int:
    return free_port()


def test_the_callers_correlation_id_reaches_the_second_services_log(
    migrated_database_url, broker, port
):
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    config = {
        "AMQP_URI": broker,
        "DATABASE_URL": migrated_database_url,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
    }
    runner = ServiceRunner(config)
    runner.add_service(FrontBooking)
    runner.add_service(BackNotification)
    runner.start()
    try:
        r = requests.post(
            f"http://127.0.0.1:{port}/book", headers={"X-Correlation-ID": "corr-http-7"}, timeout=10
        )
        assert r.status_code == 202
        event_id = r.text
        eventually(lambda: "back.handled" in stream.getvalue(), 20, "back.handled")
    finally:
        runner.stop()
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    (back,) = [x for x in lines if x["event"] == "back.handled"]
    assert back["service.name"] == "notification" and back["event_id"] == event_id
    assert back["correlation_id"] == "corr-http-7"
    assert back["causation_id"] == event_id
