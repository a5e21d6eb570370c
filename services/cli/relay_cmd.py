"""`carnet relay run`: one service's store-to-bus relay as its own process (ops and tests)."""

from __future__ import annotations

import os
import signal
import threading

import click

from services.cli.errors import CarnetGroup
from services.common.config import SERVICES, Settings


@click.group(cls=CarnetGroup)
def relay() -> None:
    """The store-to-bus relay (normally inside each service; standalone for operations)."""


@relay.command("run")
@click.option("--service", type=click.Choice(SERVICES), required=True, help="Whose log to publish.")
@click.option("--database-url", default=None, help="Defaults to $DATABASE_URL.")
@click.option("--amqp-uri", default=None, help="Defaults to $AMQP_URI.")
@click.option("--batch-size", default=500, show_default=True)
def run(service: str, database_url: str | None, amqp_uri: str | None, batch_size: int) -> None:
    """Publish SERVICE's committed events until SIGTERM; stands by while another replica leads."""
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
    from psycopg_pool import ConnectionPool

    from services.common.eventstore.store import EventStore
    from services.common.logging import configure_logging
    from services.common.relay.relay import Relay
    from services.common.relay.routing import routing_key_for

    settings = Settings.from_env()
    database_url = database_url or settings.database_url
    configure_logging(service)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ConnectionPool(database_url, min_size=1, max_size=2, open=True) as pool:
        Relay(
            store=EventStore(pool, service),
            database_url=database_url,
            schema=service,
            producer=service,
            amqp_uri=amqp_uri or settings.amqp_uri,
            routing_key_for=routing_key_for,
            batch_size=batch_size,
        ).run(stop)
