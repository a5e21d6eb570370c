"""Per-service broker users (#24 item 4): a service's credentials cannot publish as another, and
the four services still work with only the permissions services/common/broker_users.py grants.

RabbitMQ's users are global, so each test makes its own (`carnet_<service>_<hex>`) with fresh
synthetic passwords on its own vhost, and deletes them after.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import quote, urlsplit
from uuid import UUID

import eventlet
import pika
import psycopg
import pytest
import requests

from services.common.broker import vhost_of
from services.common.broker_users import ensure_service_users, service_amqp_uri
from services.common.config import SERVICES
from services.common.logging import configure_logging
from tests.integration.booking.world import World
from tests.support.infra import RABBIT_AUTH, RABBIT_MGMT
from tests.support.poll import eventually

START_TIMEOUT_S = 30  # about 1 s when every permission needed is granted


@pytest.fixture
def service_uris(fresh_broker: str) -> Iterator[dict[str, str]]:
    """Each service's AMQP URI as its own user, with the permissions `carnet broker setup` sets."""
    tag = secrets.token_hex(4)
    users = {s: f"carnet_{s}_{tag}" for s in SERVICES}
    passwords = {s: secrets.token_urlsafe(18) for s in SERVICES}
    made = ensure_service_users(
        RABBIT_MGMT, RABBIT_AUTH, vhost_of(fresh_broker), passwords, users=users
    )
    assert made == list(users.values())
    try:
        yield {
            s: service_amqp_uri(
                fresh_broker, s, {f"{s.upper()}_AMQP_PASSWORD": passwords[s]}, users[s]
            )
            for s in SERVICES
        }
    finally:
        for user in users.values():
            requests.delete(f"{RABBIT_MGMT}/api/users/{quote(user, safe='')}", auth=RABBIT_AUTH,
                            timeout=10)  # fmt: skip


def refused(action: Callable[[pika.adapters.blocking_connection.BlockingChannel], object],
            uri: str) -> pika.exceptions.ChannelClosedByBroker:  # fmt: skip
    """Run `action` on a fresh channel; the broker must close it with 403 ACCESS_REFUSED."""
    with pika.BlockingConnection(pika.URLParameters(uri)) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            action(channel)
        assert closed.value.reply_code == 403, closed.value
        assert "ACCESS_REFUSED" in closed.value.reply_text
        assert channel.is_closed
        return closed.value


def publish(exchange: str, routing_key: str = "appointment.booked") -> Callable[..., object]:
    """A persistent message, confirmed, as a forger would send it."""
    props = pika.BasicProperties(app_id="identity", delivery_mode=2, type="PatientRegistered")
    return lambda ch: ch.basic_publish(exchange, routing_key, b"{}", props, mandatory=False)


def test_booking_cannot_publish_delete_or_read_what_is_not_its_own(service_uris, fresh_broker):
    booking = service_uris["booking"]
    with pika.BlockingConnection(pika.URLParameters(fresh_broker)) as admin:  # audit's queue
        admin.channel().queue_declare("carnet.q.audit.ledger_booking", durable=True,
                                      arguments={"x-queue-type": "quorum"})  # fmt: skip

    refused(publish("identity.events", "patient.registered"), booking)
    refused(publish("", "carnet.q.audit.ledger_booking"), booking)  # the default exchange
    refused(lambda ch: ch.exchange_delete("identity.events"), booking)
    refused(lambda ch: ch.exchange_declare("identity.events", "topic", durable=True), booking)
    refused(lambda ch: ch.basic_consume("carnet.q.audit.ledger_booking", lambda *a: None),
            booking)  # fmt: skip
    refused(lambda ch: ch.queue_declare("carnet.q.audit.mine", durable=True), booking)

    with pika.BlockingConnection(pika.URLParameters(booking)) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        publish("booking.events")(channel)  # confirmed: no exception
        # A passive declare needs no configure permission: that is how consumers bind.
        channel.exchange_declare("identity.events", "topic", durable=True, passive=True)
        channel.queue_declare("carnet.q.booking.probe", durable=True,
                              arguments={"x-queue-type": "quorum"})  # fmt: skip
        channel.queue_bind("carnet.q.booking.probe", "identity.events", "patient.registered")
        assert channel.is_open


def booked_event_id(database_url: str, appointment_id: str) -> UUID:
    """The AppointmentBooked event booking committed for this appointment."""
    with psycopg.connect(database_url) as conn:
        (event_id,) = conn.execute(
            "SELECT event_id FROM booking.events WHERE event_type = 'AppointmentBooked'"
            " AND stream_id = %s",
            (f"appointment-{appointment_id}",),
        ).fetchone()
    return event_id


def connected_users(amqp_uri: str) -> set[str]:
    """The users of every connection open on the URI's vhost, as the broker knows them."""
    vhost = quote(vhost_of(amqp_uri), safe="")
    r = requests.get(f"{RABBIT_MGMT}/api/vhosts/{vhost}/connections", auth=RABBIT_AUTH, timeout=10)
    r.raise_for_status()
    return {c["user"] for c in r.json()}


def count(database_url: str, sql: str, event_id: UUID) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, (event_id,)).fetchone()[0]


def test_the_four_services_work_with_only_their_own_permissions(
    service_uris, fresh_broker, fresh_migrated_database_url
):
    logs = io.StringIO()
    configure_logging("test", stream=logs)
    others = {s: {"AMQP_URI": service_uris[s]} for s in ("identity", "notification", "audit")}
    world = World(fresh_migrated_database_url, fresh_broker, extra=others,
                  AMQP_URI=service_uris["booking"])  # fmt: skip
    # A declare the user may not make is refused, and nameko retries it for ever: fail instead.
    try:
        with eventlet.Timeout(START_TIMEOUT_S):
            world.start()
    except eventlet.Timeout:
        refusals = [x for x in logs.getvalue().splitlines() if "ACCESS_REFUSED" in x]
        pytest.fail(f"the services did not start in {START_TIMEOUT_S} s: {refusals[:3]}")
    try:
        assert {s: world.stack.config[s]["AMQP_URI"] for s in SERVICES} == service_uris
        practitioner, patient = world.practitioner(), world.patient()
        (slot, *_) = world.open_slots(practitioner, count=1)
        r = world.book(world.person_token(patient), slot, patient)  # token checked over RPC
        assert r.status_code == 201, r.text
        event_id = booked_event_id(fresh_migrated_database_url, r.json()["id"])
        url = fresh_migrated_database_url
        eventually(lambda: count(url, "SELECT count(*) FROM audit.ledger WHERE event_id = %s",
                                 event_id) == 1, 60, "the booking in audit's ledger")  # fmt: skip
        eventually(lambda: count(url, "SELECT count(*) FROM notification.outbox"
                                 " WHERE source_event_id = %s", event_id) >= 1, 60,
                   "the booking in notification's outbox")  # fmt: skip
        assert world.stack.alive()
        users = {urlsplit(uri).username for uri in service_uris.values()}
        eventually(lambda: connected_users(fresh_broker) == users, 30, "only the services' users")
    finally:
        world.close()
    assert "ACCESS_REFUSED" not in logs.getvalue()


def test_broker_setup_makes_the_users_it_has_passwords_for_else_says_they_share(
    fresh_broker, monkeypatch
):
    from click.testing import CliRunner

    import services.cli.broker_cmd as broker_cmd
    from services.cli.main import cli

    tag = secrets.token_hex(4)
    users = {s: f"carnet_{s}_{tag}" for s in SERVICES}  # global names: the test's own
    real = broker_cmd.ensure_service_users
    monkeypatch.setattr(broker_cmd, "ensure_service_users",
                        lambda *a: real(*a, users=users))  # fmt: skip
    for s in SERVICES:
        monkeypatch.delenv(f"{s.upper()}_AMQP_PASSWORD", raising=False)
    args = ["broker", "setup", "--amqp-uri", fresh_broker, "--management-url", RABBIT_MGMT,
            "--user", RABBIT_AUTH[0], "--password", RABBIT_AUTH[1]]  # fmt: skip
    shared = CliRunner().invoke(cli, args)
    assert shared.exit_code == 0, shared.output
    assert "the services share the admin user" in shared.output
    password = secrets.token_urlsafe(18)
    try:
        made = CliRunner().invoke(cli, args, env={"BOOKING_AMQP_PASSWORD": password})
        assert made.exit_code == 0, made.output
        assert f"broker users {users['booking']} set" in made.output
        uri = service_amqp_uri(fresh_broker, "booking", {"BOOKING_AMQP_PASSWORD": password},
                               users["booking"])  # fmt: skip
        with pika.BlockingConnection(pika.URLParameters(uri)) as conn:
            channel = conn.channel()
            channel.confirm_delivery()
            publish("booking.events")(channel)
        refused(publish("identity.events", "patient.registered"), uri)
    finally:
        requests.delete(f"{RABBIT_MGMT}/api/users/{users['booking']}", auth=RABBIT_AUTH,
                        timeout=10)  # fmt: skip
