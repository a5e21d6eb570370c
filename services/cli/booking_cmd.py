"""`carnet booking`: operator commands for booking's read models."""

from __future__ import annotations

import click

from services.common.config import Settings


@click.group()
def booking() -> None:
    """Booking's read models (slots and appointments views)."""


@booking.command("rebuild-views")
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default=lambda: Settings.from_env().database_url,
    show_default="DATABASE_URL or the local server's `carnet` database",
    help="postgresql:// URL of Carnet's database.",
)
def rebuild_views(database_url: str) -> None:
    """Empty the views and replay booking's log from position 0, in one transaction."""
    # Imported here: `carnet --help` needs neither psycopg's pool nor booking's modules.
    from psycopg_pool import ConnectionPool

    from services.booking import views
    from services.common.eventstore.store import EventStore

    with ConnectionPool(database_url, min_size=1, max_size=2, open=True) as pool:
        store = EventStore(pool, "booking")
        with pool.connection() as conn, conn.transaction():
            applied, cursor = views.rebuild(conn, store)
    click.echo(f"rebuilt booking views from {applied} events (log position {cursor.position})")
