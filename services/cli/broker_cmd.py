"""`carnet broker setup`: policies, shared exchanges and per-service users, in one step."""

from __future__ import annotations

import click

from services.cli.errors import CarnetGroup
from services.cli.options import management_options
from services.common.broker import apply_policies, declare_topology, retire_queues, vhost_of
from services.common.broker_users import ensure_service_users, passwords_from_env
from services.common.config import Settings


@click.group(cls=CarnetGroup)
def broker() -> None:
    """RabbitMQ topology shared by every service."""


@broker.command("setup")
@click.option("--amqp-uri", default=None, help="Defaults to $AMQP_URI.")
@management_options
def setup(amqp_uri: str | None, management_url: str, user: str, password: str) -> None:
    """Apply the policies, declare the shared topology, create each service's user (when
    `<SERVICE>_AMQP_PASSWORD` is set), delete retired queues."""
    uri = amqp_uri or Settings.from_env().amqp_uri
    base, auth, vhost = management_url.rstrip("/"), (user, password), vhost_of(uri)
    names = apply_policies(uri, base, auth)
    declare_topology(uri)
    passwords = passwords_from_env()
    users = ensure_service_users(base, auth, vhost, passwords) if passwords else []
    retired, in_use = retire_queues(uri)
    click.echo(
        f"vhost {vhost!r}: policies {', '.join(names)}; exchanges and dead-letter topology "
        "declared; "
        + (
            f"broker users {', '.join(users)} set"
            if users
            else "no <SERVICE>_AMQP_PASSWORD set: the services share the admin user"
        )
        + (f"; retired {', '.join(retired)}" if retired else "")
        + (f"; still consumed, run again after the rollout: {', '.join(in_use)}" if in_use else "")
    )
