"""`carnet db`: create and migrate the database, so a fresh machine needs no manual SQL."""

from __future__ import annotations

import click
from psycopg.conninfo import conninfo_to_dict

from services.cli.errors import CarnetGroup
from services.common.config import SERVICES, Settings


@click.group(cls=CarnetGroup)
def db() -> None:
    """The PostgreSQL database: one schema and one role per service."""


@db.command()
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default=lambda: Settings.from_env().database_url,
    show_default="DATABASE_URL or the local server's `carnet` database",
    help="postgresql:// URL of the database to create (if missing) and migrate.",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    type=click.Choice(SERVICES),
    help="Migrate only these services' stores (repeatable); all by default.",
)
def migrate(database_url: str, services: tuple[str, ...]) -> None:
    """Create the database if it does not exist, then apply deploy/migrations (idempotent)."""
    # Imported here: yoyo is only needed by this command, not by `carnet --help`.
    from services.common.eventstore.migrate import ensure_database
    from services.common.eventstore.migrate import migrate as apply_migrations

    name = conninfo_to_dict(database_url).get("dbname")
    if ensure_database(database_url):
        click.echo(f"created database {name}")
    apply_migrations(database_url, services or SERVICES)
    # The URL may carry a password: name the database only.
    click.echo(f"database {name} is up to date ({', '.join(services or SERVICES)})")
