"""`carnet broker setup`: policies and dead-letter topology from deploy/rabbitmq, in one step."""

from __future__ import annotations

import click

from services.cli.errors import CarnetGroup
from services.cli.options import management_options
from services.common.broker import (
    apply_policies,
    declare_dead_letter_topology,
    retire_queues,
    vhost_of,
)
from services.common.config import Settings


@click.group(cls=CarnetGroup)
def broker() -> None:
    """RabbitMQ topology shared by every service."""


@broker.command("setup")
@click.option("--amqp-uri", default=None, help="Defaults to $AMQP_URI.")
@management_options
def setup(amqp_uri: str | None, management_url: str, user: str, password: str) -> None:
    """Apply the policies, declare the dead-letter topology, delete retired queues."""
    uri = amqp_uri or Settings.from_env().amqp_uri
    names = apply_policies(uri, management_url.rstrip("/"), (user, password))
    declare_dead_letter_topology(uri)
    retired = retire_queues(uri)
    click.echo(
        f"vhost {vhost_of(uri)!r}: policies {', '.join(names)}; dead-letter topology declared"
        + (f"; retired {', '.join(retired)}" if retired else "")
    )
