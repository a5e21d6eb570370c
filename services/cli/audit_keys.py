"""What every `carnet audit` command that checks signatures shares: the configured public
keys, and the "could not check" exit (2), never confused with "tampering found" (1)."""

from __future__ import annotations

import os
from typing import Any

import click

# Only these variables name the verification key; a dev ephemeral key is never used here.
KEY_VARS = ("AUDIT_VERIFY_PUBLIC_KEY", "AUDIT_SIGNING_KEY", "AUDIT_SIGNING_KEY_ID")


def cannot_check(message: str) -> click.ClickException:
    """A one-line error, exit code 2: nothing was checked (no key, a database away, a file
    unreadable), which is not the same as a ledger found bad (1)."""
    error = click.ClickException(message)
    error.exit_code = 2
    return error


def configured_keys() -> dict[str, Any]:
    """key id -> Ed25519 public key, from $AUDIT_VERIFY_PUBLIC_KEY (or derived from
    $AUDIT_SIGNING_KEY) with $AUDIT_SIGNING_KEY_ID (default audit-1); exit 2 if none."""
    from services.audit.signing import SigningKeyError, verification_keys

    env = {k: v for k, v in os.environ.items() if k in KEY_VARS}
    env.setdefault("AUDIT_SIGNING_KEY_ID", "audit-1")
    try:
        return verification_keys(env)
    except SigningKeyError as exc:
        raise cannot_check(
            f"no key to check checkpoint signatures with: {exc} "
            "(set AUDIT_VERIFY_PUBLIC_KEY and AUDIT_SIGNING_KEY_ID)"
        ) from None


def database_error(what: str, exc: Exception) -> click.ClickException:
    """A database that could not be read, in one line (no URL: it may carry a password)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return cannot_check(f"could not read {what}: {type(exc).__name__}: {first}")
