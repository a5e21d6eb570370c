"""`carnet secrets init`: every secret docker-compose.yml needs, generated into `.env`.

Compose refuses to start without them (`${VAR:?…}`) instead of starting services that then
crash in a loop (booking without its master key, audit without its signing key). Each value is
fresh randomness from `secrets`; the audit signing key is an Ed25519 seed with its public key
beside it, as `carnet audit verify` reads them. The file is written once, mode 0600, never
over an existing one unless --force: a rerun with --force replaces every secret at once, which
a running stack does not survive (new role and broker passwords need a migration and a broker
setup, a new master key cannot open the old data keys), so it is for a new stack.
`.env.example` lists the names, no values.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import click

from services.cli.errors import CannotRun, CarnetGroup

# (name, what it is): the order of .env and .env.example.
SECRETS = (
    ("POSTGRES_PASSWORD", "PostgreSQL superuser (migrations)"),
    ("IDENTITY_DB_PASSWORD", "role carnet_identity"),
    ("BOOKING_DB_PASSWORD", "role carnet_booking"),
    ("NOTIFICATION_DB_PASSWORD", "role carnet_notification"),
    ("AUDIT_DB_PASSWORD", "role carnet_audit"),
    ("AUDITOR_DB_PASSWORD", "role carnet_auditor (read-only verify)"),
    ("IDENTITY_AMQP_PASSWORD", "broker user carnet_identity"),
    ("BOOKING_AMQP_PASSWORD", "broker user carnet_booking"),
    ("NOTIFICATION_AMQP_PASSWORD", "broker user carnet_notification"),
    ("AUDIT_AMQP_PASSWORD", "broker user carnet_audit"),
    ("CARNET_ADMIN_TOKEN", "identity's bootstrap admin token: blank it once a real admin exists"),
    ("BOOKING_MASTER_KEY", "wraps every patient's medical data key (32 bytes, base64)"),
    ("AUDIT_SIGNING_KEY", "Ed25519 seed signing the ledger's checkpoints (base64)"),
    ("AUDIT_SIGNING_KEY_ID", "names the signing key in each signed head"),
    ("AUDIT_VERIFY_PUBLIC_KEY", "the signing key's public half (base64)"),
    ("GRAFANA_ADMIN_PASSWORD", "Grafana's admin user"),
)


def generate(now: datetime | None = None) -> dict[str, str]:
    """Fresh values for every name of SECRETS."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from services.audit.signing import public_key_b64

    signing = Ed25519PrivateKey.generate()
    seed = signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    values = {name: secrets.token_urlsafe(24) for name, _ in SECRETS}
    values["CARNET_ADMIN_TOKEN"] = secrets.token_urlsafe(32)
    values["BOOKING_MASTER_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    values["AUDIT_SIGNING_KEY"] = base64.b64encode(seed).decode()
    values["AUDIT_SIGNING_KEY_ID"] = f"audit-{(now or datetime.now(UTC)):%Y%m%d}"
    values["AUDIT_VERIFY_PUBLIC_KEY"] = public_key_b64(signing.public_key())
    return values


def render(values: dict[str, str] | None) -> str:
    """The file: a comment per name, then NAME=value (empty in the example)."""
    lines = ["# Secrets of docker-compose.yml: `carnet secrets init` writes .env; never commit it."]
    for name, what in SECRETS:
        lines += [f"# {what}", f"{name}={values[name] if values else ''}"]
    return "\n".join(lines) + "\n"


@click.group(cls=CarnetGroup)
def secrets_group() -> None:
    """Secrets the compose stack needs (docs/runbook.md)."""


@secrets_group.command("init")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=Path(".env"),
              show_default=True)  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing file (every secret changes).")
def init(output: Path, force: bool) -> None:
    """Write every secret docker-compose.yml needs to OUTPUT (mode 0600), freshly generated."""
    # Created 0600 and exclusively (no race with another writer, no symlink followed); with
    # --force a new file beside it replaces it in one rename, never rewritten in place.
    target = output.with_name(f".{output.name}.{secrets.token_hex(4)}.new") if force else output
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise CannotRun(
            f"{output} exists: keep it, or pass --force to replace every secret in it"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(render(generate()))
    if force:
        os.replace(target, output)
    click.echo(f"wrote {len(SECRETS)} secrets to {output} (mode 0600)", err=True)
