"""`carnet witness`: the process that countersigns the ledger's heads from its own database."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

import click

from services.cli.errors import CarnetGroup, logs_on_stderr

DEFAULT_WITNESS_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/carnet_witness"

_admin_url = click.option(
    "--database-url",
    envvar="WITNESS_ADMIN_DATABASE_URL",
    default=DEFAULT_WITNESS_ADMIN_URL,
    show_default="$WITNESS_ADMIN_DATABASE_URL or the local server's carnet_witness",
    help="An admin URL of the witness's own database (never the ledger's): created if "
    "missing and migrated with it; the witness then runs as carnet_witness.",
)


def _fail(message: str) -> click.ClickException:
    """A one-line error with exit code 2: nothing was checked."""
    error = click.ClickException(message)
    error.exit_code = 2
    return error


@click.group(cls=CarnetGroup)
def witness() -> None:
    """The witness of the audit ledger's signed heads (docs/audit.md "Witness")."""


@witness.command("migrate")
@_admin_url
def migrate_cmd(database_url: str) -> None:
    """Create the witness's database if missing and apply deploy/witness (idempotent)."""
    from services.common.eventstore.migrate import set_role_passwords
    from services.witness.store import migrate

    if migrate(database_url):
        click.echo("created the witness database", err=True)
    set_role_passwords(database_url, ["witness"], dict(os.environ))
    click.echo("witness database up to date", err=True)


def _role_url(admin_url: str) -> str:
    """carnet_witness on the same database ($WITNESS_DATABASE_URL wins when set)."""
    from services.common.config import service_database_url

    return service_database_url(admin_url, "witness")


def _ledger_url(ledger_url: str | None) -> str:
    from services.common.config import Settings, service_database_url

    return ledger_url or service_database_url(Settings.from_env().database_url, "audit")


@witness.command("run")
@_admin_url
@click.option(
    "--ledger-url",
    envvar="WITNESS_LEDGER_URL",
    default=None,
    help="Where to read audit.checkpoints and the ledger's entry hashes (read-only); default "
    "carnet_audit on $DATABASE_URL.",
)
@click.option("--interval", type=click.FloatRange(0.1), default=5.0, show_default=True)
@click.option("--once", is_flag=True, help="One round, then exit: 0 none refused, 1 refused.")
@click.option("--metrics-port", type=int, default=None, help="Serve /metrics on this port.")
def run_cmd(
    database_url: str,
    ledger_url: str | None,
    interval: float,
    once: bool,
    metrics_port: int | None,
) -> None:
    """Check every new signed head of the ledger and countersign those that extend the last.

    Keys from the environment only: WITNESS_SIGNING_KEY (base64 Ed25519 seed, the witness's
    own), WITNESS_SIGNING_KEY_ID, and the audit's AUDIT_VERIFY_PUBLIC_KEY with
    AUDIT_SIGNING_KEY_ID. A refused head (fork, rollback, bad signature) is recorded in
    witness.refusals and logged at error level.
    """
    from services.common.logging import configure_logging

    if once:  # in-process callers (tests, cron wrappers) keep their own logging
        with logs_on_stderr("witness"):
            _run(database_url, ledger_url, interval, once, metrics_port)
        return
    configure_logging("witness", os.environ.get("LOG_LEVEL", "INFO"), sys.stderr)
    _run(database_url, ledger_url, interval, once, metrics_port)


def _run(
    database_url: str,
    ledger_url: str | None,
    interval: float,
    once: bool,
    metrics_port: int | None,
) -> None:
    """Migrate, then one round (--once) or rounds until SIGTERM/SIGINT."""
    import psycopg

    from services.audit.signing import SigningKeyError
    from services.common.eventstore.migrate import set_role_passwords
    from services.witness.keys import audit_keys_from_env, cosigner_from_env
    from services.witness.run import run, witness_round
    from services.witness.store import migrate

    try:
        cosigner, keys = cosigner_from_env(os.environ), audit_keys_from_env(os.environ)
    except SigningKeyError as exc:
        raise _fail(f"witness keys: {exc}") from None
    try:
        migrate(database_url)
        set_role_passwords(database_url, ["witness"], dict(os.environ))
        role_url, ledger = _role_url(database_url), _ledger_url(ledger_url)
        if once:
            result = witness_round(role_url, ledger, keys, cosigner)
            click.echo(
                json.dumps(
                    {
                        "witnessed": [h.tree_size for h in result.accepted],
                        "refused": [
                            {"tree_size": h.tree_size, "kind": r.kind, "detail": r.detail}
                            for h, r in result.refused
                        ],
                    }
                )
            )
            raise SystemExit(1 if result.refused else 0)
    except psycopg.Error as exc:
        raise _fail(f"database unavailable: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run(role_url, ledger, keys, cosigner, interval, stop)


@witness.command("status")
@_admin_url
def status_cmd(database_url: str) -> None:
    """The witnessed heads (count, newest) and every refusal, as JSON."""
    import psycopg

    from services.witness import store

    try:
        with psycopg.connect(database_url, connect_timeout=10) as conn:
            heads, refused = store.witnessed_heads(conn), store.refusals(conn)
    except psycopg.Error as exc:
        raise _fail(f"witness database unreadable: {type(exc).__name__}") from None
    newest: dict[str, Any] | None = heads[-1].to_json() if heads else None
    click.echo(
        json.dumps(
            {"heads": len(heads), "newest": newest, "refusals": refused}, indent=2, default=str
        )
    )
