"""The relay never leads on a standby (#24 item 5): a real streaming replica of a private
cluster refuses it with the reason, while its primary is led as before."""

from __future__ import annotations

import threading

import psycopg
import pytest
from structlog.testing import capture_logs

from scripts.chaos.infra import primary_with_standby
from services.common.relay.leadership import Leadership, NotPrimary
from services.common.relay.relay import Relay
from tests.support.poll import eventually


@pytest.fixture(scope="module")
def primary_and_standby():
    with primary_with_standby("carnet-ha-") as servers:
        yield servers


def test_a_standby_is_refused_with_its_reason_and_the_primary_is_led(primary_and_standby):
    primary, standby = primary_and_standby
    with psycopg.connect(standby.url("postgres")) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    refused = Leadership(standby.url("postgres"), "booking")
    with pytest.raises(NotPrimary, match=rf"127.0.0.1:{standby.port} is a standby"):
        refused.try_acquire()
    assert refused.conn is None  # nothing held open on the standby
    led = Leadership(primary.url("postgres"), "booking")
    try:
        assert led.try_acquire()
    finally:
        led.release()


def test_a_relay_pointed_at_a_standby_logs_why_and_never_leads(primary_and_standby):
    _, standby = primary_and_standby
    relay = Relay(
        store=None,  # never read: leadership is refused first
        database_url=standby.url("postgres"),
        schema="booking",
        producer="booking",
        amqp_uri="amqp://guest:guest@127.0.0.1:1/",  # never reached either
        routing_key_for=lambda t: t,
    )
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    with capture_logs() as logs:  # whatever logging another test configured in this process
        thread.start()
        try:
            eventually(
                lambda: any("is a standby" in str(x.get("detail")) for x in logs),
                10,
                "relay.error naming the standby",
            )
            assert not relay.stats.is_leader and relay.leadership.conn is None
        finally:
            stop.set()
            thread.join(10)
