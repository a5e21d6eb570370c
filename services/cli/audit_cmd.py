"""`carnet audit verify`: check the ledger's chain, signed heads and sources; exit 1 if tampered."""

from __future__ import annotations

import json
import os

import click

from services.audit.settings import DEFAULT_GRACE_SECONDS

# Only these variables name the verification key; a dev ephemeral key is never used here.
_KEY_VARS = ("AUDIT_VERIFY_PUBLIC_KEY", "AUDIT_SIGNING_KEY", "AUDIT_SIGNING_KEY_ID")


@click.group()
def audit() -> None:
    """The audit ledger (docs/audit.md)."""


@audit.command("verify")
@click.option(
    "--database-url",
    default=None,
    help="An admin URL that can read every schema; defaults to $AUDIT_VERIFY_DATABASE_URL, "
    "then $DATABASE_URL.",
)
@click.option(
    "--grace-seconds",
    type=float,
    default=None,
    help="Source events younger than this are not yet required in the ledger "
    f"(default $AUDIT_VERIFY_GRACE_SECONDS or {DEFAULT_GRACE_SECONDS:g}).",
)
def verify(database_url: str | None, grace_seconds: float | None) -> None:
    """Recompute the hash chain and the signed tree heads, cross-check every service's store.

    The public key comes from $AUDIT_VERIFY_PUBLIC_KEY (or is derived from $AUDIT_SIGNING_KEY),
    with $AUDIT_SIGNING_KEY_ID. Prints the JSON report; exit 1 when anything was found,
    2 when no key is configured.
    """
    from services.audit.settings import AuditSettings
    from services.audit.signing import SigningKeyError, verification_keys
    from services.audit.verify import verify_database
    from services.common.config import Settings

    env = {k: v for k, v in os.environ.items() if k in _KEY_VARS}
    env.setdefault("AUDIT_SIGNING_KEY_ID", "audit-1")
    try:
        keys = verification_keys(env)
    except SigningKeyError as exc:
        error = click.ClickException(
            f"no key to check checkpoint signatures with: {exc} "
            "(set AUDIT_VERIFY_PUBLIC_KEY and AUDIT_SIGNING_KEY_ID)"
        )
        error.exit_code = 2  # 1 means tampering found; this is a usage problem
        raise error from exc
    settings = AuditSettings.from_config(dict(os.environ))
    url = (
        database_url
        or os.environ.get("AUDIT_VERIFY_DATABASE_URL")
        or Settings.from_env().database_url
    )
    grace = settings.verify_grace_seconds if grace_seconds is None else grace_seconds
    report = verify_database(url, keys, grace_seconds=grace)
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
