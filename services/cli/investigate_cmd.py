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
# Each option names subjects of one kind, repeatable; together they are the incident's set.
@click.option("--connector", multiple=True, help="A connector's id (repeatable).")
@click.option("--principal", multiple=True, help="Any principal's id (repeatable).")
@click.option("--address", multiple=True, help="A source IP address (repeatable).")
@click.option("--vendor", multiple=True, help="Every connector of this vendor (repeatable).")
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
    connector: tuple[str, ...],
    principal: tuple[str, ...],
    address: tuple[str, ...],
    vendor: tuple[str, ...],
    since: datetime,
    until: datetime,
    aware_at: datetime | None,
    title: str,
    by: uuid.UUID | None,
    fmt: str,
    database_url: str | None,
) -> None:
    """Open an incident (IncidentOpened) over its subjects and print its report: affected set
    per subject and in total, attempts, related activity, containment, Art. 33 items.

    Exit 1 when a connector or principal is unknown, or a vendor has no connector.
    """
    from psycopg_pool import ConnectionPool

    from services.audit import incidents, report_text
    from services.audit.subjects import parse
    from services.common.config import Settings
    from services.common.errors import Invalid, NotFound
    from services.common.eventstore.store import EventStore

    given = {"connector": connector, "principal": principal, "address": address, "vendor": vendor}
    raw = [{"kind": kind, "value": v} for kind, values in given.items() for v in values]
    if not raw:
        raise click.UsageError("name a subject: --connector, --principal, --address or --vendor")
    try:
        subjects = parse(raw)
    except Invalid as error:
        raise click.UsageError(error.detail) from None
    url = database_url or Settings.from_env().database_url
    with _connect(url) as conn, ConnectionPool(url, min_size=1, max_size=1) as pool:
        conn.autocommit = True
        try:
            incident_id = incidents.open_incident(
                conn,
                EventStore(pool, "audit"),
                opened_by=by or CLI_OPERATOR,
                title=title,
                subjects=subjects,
                start=since,
                end=until,
                aware_at=aware_at or datetime.now(UTC),
            )
        except (Invalid, NotFound) as error:
            raise click.ClickException(error.detail) from None
        built = incidents.build_report(conn, incident_id)
    if fmt == "json":
        click.echo(json.dumps(built, indent=2, default=str))
    elif fmt == "csv":
        click.echo(report_text.patients_csv(built), nl=False)
    else:
        click.echo(report_text.markdown(built), nl=False)
    click.echo(f"incident {incident_id} opened", err=True)
