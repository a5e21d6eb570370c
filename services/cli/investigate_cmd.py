"""`carnet audit investigate`: open an incident from the command line and print its report."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from services.cli.audit_cmd import _connect, _database, _instant, _uuid, audit

INCOMPLETE = 3  # exit code: the ledger did not catch up with the window in time
INDEX_DISAGREES = 4  # exit code: the access index differs from the ledger; no report
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
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the ledger to hold the whole window before giving up (exit 3).",
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
    wait_s: float,
    database_url: str | None,
) -> None:
    """Open an incident (IncidentOpened) over its subjects and print its report: affected set
    per subject and in total, attempts, related activity, containment, Art. 33 items.

    The report waits, with a progress line, until the ledger holds every event of the window.
    Exit 1 when a connector or principal is unknown, or a vendor has no connector; exit 3 when
    the ledger still lags after --wait (the incident stays open: ask again later); exit 4 when
    the access index disagrees with the ledger in the window (no report: verify, then rebuild).
    """
    from psycopg_pool import ConnectionPool

    from services.audit import completeness, incidents, report_text
    from services.audit.subjects import parse
    from services.common.config import Settings
    from services.common.errors import Invalid, NotFound, Unavailable
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
        ready = completeness.settle(_progress(conn, incident_id), wait_s)
        if not ready.complete:
            click.echo(
                f"Error: incident {incident_id} opened, but the ledger still lacks "
                f"{ready.pending} events of its window after {wait_s:g} s; retry later",
                err=True,
            )
            raise SystemExit(INCOMPLETE)
        try:
            built = incidents.build_report(conn, incident_id, ready)
        except Unavailable as error:  # the index disagrees with the ledger: nothing printed
            click.echo(f"Error: {error.detail}", err=True)
            raise SystemExit(INDEX_DISAGREES) from None
    if fmt == "json":
        click.echo(json.dumps(built, indent=2, default=str))
    elif fmt == "csv":
        click.echo(report_text.patients_csv(built), nl=False)
    else:
        click.echo(report_text.markdown(built), nl=False)
    click.echo(f"incident {incident_id} opened", err=True)


def _progress(conn: Any, incident_id: uuid.UUID) -> Callable[[], Any]:
    """One completeness check per call, saying on stderr what is still due when it is not."""
    from services.audit import incidents

    said = [0.0]  # when the last line went out: one a second at most

    def once() -> Any:
        ready = incidents.completeness_of(conn, incident_id)
        if not ready.complete and time.monotonic() - said[0] >= 1.0:
            said[0] = time.monotonic()
            due = ", ".join(f"{lag.service} {lag.pending}" for lag in ready.lags if lag.pending)
            click.echo(f"waiting for the ledger: {ready.pending} events pending ({due})", err=True)
        return ready

    return once
