"""`carnet audit investigate`: open an incident from the command line and print its report."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import click

from services.cli.audit_cmd import _connect, _database, _instant, _uuid, audit

# Acts from the command line are attributed to this fixed principal unless --by names one.
CLI_OPERATOR = uuid.uuid5(uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "carnet:cli")


@audit.command("investigate")
@click.option("--connector", callback=_uuid, help="The connector whose credentials were used.")
@click.option("--principal", callback=_uuid, help="Or one principal.")
@click.option("--from", "since", callback=_instant, required=True, help="Window start (ISO-8601).")
@click.option("--to", "until", callback=_instant, required=True, help="Window end, exclusive.")
@click.option("--aware-at", callback=_instant, help="When the organisation became aware (now).")
@click.option("--title", default="Suspicious access investigation", show_default=True)
@click.option("--by", callback=_uuid, help="The investigator's staff id (for attribution).")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "md", "csv"]), default="md", show_default=True
)
@_database
def investigate(
    connector: uuid.UUID | None,
    principal: uuid.UUID | None,
    since: datetime,
    until: datetime,
    aware_at: datetime | None,
    title: str,
    by: uuid.UUID | None,
    fmt: str,
    database_url: str | None,
) -> None:
    """Open an incident (IncidentOpened) and print its report: affected set and Art. 33 items."""
    from psycopg_pool import ConnectionPool

    from services.audit import incidents, report
    from services.audit.investigation import Subject
    from services.common.config import Settings
    from services.common.eventstore.store import EventStore

    if (connector is None) == (principal is None):
        raise click.UsageError("give exactly one of --connector, --principal")
    url = database_url or Settings.from_env().database_url
    with _connect(url) as conn, ConnectionPool(url, min_size=1, max_size=1) as pool:
        conn.autocommit = True
        incident_id = incidents.open_incident(
            conn,
            EventStore(pool, "audit"),
            opened_by=by or CLI_OPERATOR,
            title=title,
            subject=Subject(connector, principal),
            start=since,
            end=until,
            aware_at=aware_at or datetime.now(UTC),
        )
        built = incidents.build_report(conn, incident_id)
    if fmt == "json":
        click.echo(json.dumps(built, indent=2, default=str))
    elif fmt == "csv":
        click.echo(report.patients_csv(built), nl=False)
    else:
        click.echo(report.markdown(built), nl=False)
    click.echo(f"incident {incident_id} opened", err=True)
