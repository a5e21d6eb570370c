"""`carnet audit`: verify the ledger (exit 1 if tampered); trace and replay for investigators."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from services.audit.settings import DEFAULT_GRACE_SECONDS
from services.cli.errors import CarnetGroup, logs_on_stderr


@click.group(cls=CarnetGroup)
def audit() -> None:
    """The audit ledger (docs/audit.md)."""


@audit.command("verify")
@click.option(
    "--database-url",
    default=None,
    help="A URL that can read the ledger and every store; defaults to "
    "$AUDIT_VERIFY_DATABASE_URL, then the read-only carnet_auditor on $DATABASE_URL's server.",
)
@click.option(
    "--grace-seconds",
    type=float,
    default=None,
    help="Source events younger than this are not yet required in the ledger "
    f"(default $AUDIT_VERIFY_GRACE_SECONDS or {DEFAULT_GRACE_SECONDS:g}).",
)
@click.option(
    "--witness",
    metavar="URL|FILE",
    default=None,
    help="Also compare the ledger with witnessed heads: the witness's database "
    "(postgresql://...) or a file from `carnet audit heads export`. Cosignatures are "
    "checked when $WITNESS_PUBLIC_KEY is set.",
)
def verify(database_url: str | None, grace_seconds: float | None, witness: str | None) -> None:
    """Recompute the hash chain and the signed tree heads, cross-check every service's store.

    The public key comes from $AUDIT_VERIFY_PUBLIC_KEY (or is derived from $AUDIT_SIGNING_KEY),
    with $AUDIT_SIGNING_KEY_ID. Prints the JSON report; exit 1 when anything was found (tampering
    or loss), 2 when nothing could be checked (no key, a database or the witness unreadable).
    """
    import psycopg

    from services.audit.settings import AuditSettings
    from services.audit.signing import SigningKeyError
    from services.audit.verify import verify_database
    from services.audit.witness_check import verify_database_with_witness
    from services.cli.audit_keys import cannot_check, configured_keys, database_error
    from services.common.config import AUDITOR, Settings, service_database_url
    from services.witness.keys import witness_public_key_from_env
    from services.witness.store import WitnessUnreadable, load_witnessed

    keys = configured_keys()
    settings = AuditSettings.from_config(dict(os.environ))
    url = (
        database_url
        or os.environ.get("AUDIT_VERIFY_DATABASE_URL")
        or service_database_url(Settings.from_env().database_url, AUDITOR)
    )
    grace = settings.verify_grace_seconds if grace_seconds is None else grace_seconds
    options = {"grace_seconds": grace, "progress": lambda line: click.echo(line, err=True)}
    try:
        if witness is None:
            report = verify_database(url, keys, **options)
        else:
            witness_key = witness_public_key_from_env(os.environ)
            heads = load_witnessed(witness)
            report = verify_database_with_witness(url, keys, heads, witness_key, **options)
    except SigningKeyError as exc:
        raise cannot_check(f"WITNESS_PUBLIC_KEY: {exc}") from None
    except WitnessUnreadable as exc:
        raise cannot_check(str(exc)) from None
    except psycopg.Error as exc:
        raise database_error("the ledger's database", exc) from None
    click.echo(json.dumps(report.to_dict(), indent=2))
    if not report.ok:
        click.echo(
            f"TAMPERING OR LOSS FOUND: first bad seq {report.first_bad_seq}, "
            f"{len(report.findings)} finding(s)",
            err=True,
        )
        raise SystemExit(1)
    click.echo(
        f"ledger ok: {report.entries_checked} entries, "
        f"{report.checkpoints_checked} signed checkpoints",
        err=True,
    )
    if report.witness is not None:
        # The honest bound: rows no witnessed head covers yet are vouched for by nobody outside.
        click.echo(
            f"witness agrees: {report.witness['heads_checked']} witnessed heads up to tree size "
            f"{report.witness['newest_witnessed_size']}; {report.witness['rows_not_witnessed']} "
            "later row(s) not witnessed yet",
            err=True,
        )


# -- trace and replay for investigators (docs/audit.md "Access index and trace") -----------------


def _uuid(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A UUID option or argument, or a usage error naming it."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter("not a UUID") from None


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """An ISO-8601 instant with its UTC offset (or Z), or a usage error."""
    from services.common.errors import Invalid
    from services.common.http.body import parse_instant

    if value is None:
        return None
    try:
        return parse_instant(value, param.name or "instant")
    except Invalid as error:
        raise click.BadParameter(error.detail) from None


_database = click.option(
    "--database-url",
    default=None,
    help="Defaults to $DATABASE_URL; the role must write audit's projections (carnet_audit).",
)


@contextmanager
def _connect(database_url: str | None) -> Iterator[Any]:
    """A connection to the ledger's database (autocommit off: each index batch commits)."""
    import psycopg

    from services.common.config import Settings

    url = database_url or Settings.from_env().database_url
    with logs_on_stderr("audit"), psycopg.connect(url) as conn:
        yield conn


def _print(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@audit.command("history")
@click.argument("appointment_id", callback=_uuid)
@_database
def history(appointment_id: uuid.UUID, database_url: str | None) -> None:
    """Every change and every access of one appointment, in ledger order (JSON); exit 1 if none."""
    from services.audit import trace

    with _connect(database_url) as conn:
        items = trace.history(conn, appointment_id)
    _print(items)
    if not items:
        click.echo("the ledger names no such appointment", err=True)
        raise SystemExit(1)


@audit.command("state")
@click.argument("appointment_id", callback=_uuid)
@click.option("--as-of", "as_of", required=True, callback=_instant, help="ISO-8601, with offset.")
@_database
def state(appointment_id: uuid.UUID, as_of: datetime, database_url: str | None) -> None:
    """The appointment's administrative state as of an instant (JSON); exit 1 if not booked."""
    from services.audit import trace

    with _connect(database_url) as conn:
        found = trace.state_as_of(conn, appointment_id, as_of)
    _print(found)
    if found is None:
        click.echo("no booked appointment with this id at that instant", err=True)
        raise SystemExit(1)


@audit.command("accesses")
@click.option("--principal", callback=_uuid, help="Who read (a principal id).")
@click.option("--connector", callback=_uuid, help="Through which connector.")
@click.option("--patient", callback=_uuid, help="Whose appointments (that patient's only).")
@click.option("--from", "since", callback=_instant, help="From this instant (inclusive).")
@click.option("--to", "until", callback=_instant, help="Up to this instant (exclusive).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True)
@_database
def accesses(
    principal: uuid.UUID | None,
    connector: uuid.UUID | None,
    patient: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    database_url: str | None,
) -> None:
    """Access records of one principal, connector or patient, in time order (JSON)."""
    from services.audit import trace

    if sum(x is not None for x in (principal, connector, patient)) != 1:
        raise click.UsageError("give exactly one of --principal, --connector, --patient")
    with _connect(database_url) as conn:
        found = trace.accesses(
            conn,
            principal_id=principal,
            connector_id=connector,
            patient_id=patient,
            since=since,
            until=until,
            limit=limit,
        )
    _print(found)
    if len(found) == limit:
        click.echo(f"stopped at --limit {limit}: there may be more", err=True)
