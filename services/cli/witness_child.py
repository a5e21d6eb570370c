"""The witness as `carnet up` and the demo run it: its own database, key and least privilege.

Locally the witness's database lives on the ledger's server (named after the ledger's database,
`<db>_witness`), so the server's superuser reaches both: docs/audit.md "Witness" says what that
leaves open and how production separates them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from services.audit.signing import public_key_b64, signer_from_config
from services.cli.child_env import child_env
from services.common.config import AUDITOR, service_database_url

DEFAULT_METRICS_PORT = 8005
DEFAULT_INTERVAL_SECONDS = "2"
DEFAULT_AUDIT_KEY_ID = "audit-1"  # services/audit/config.yaml's default
# What the services use and the witness must not hold: the admin URL and the broker's.
NOT_ITS_OWN = ("DATABASE_URL", "AMQP_URI")


def metrics_port(env: Mapping[str, str]) -> int:
    """Where the witness serves /metrics (its readiness too): WITNESS_METRICS_PORT or 8005."""
    return int(env.get("WITNESS_METRICS_PORT") or DEFAULT_METRICS_PORT)


def witness_database_url(admin_url: str) -> str:
    """The admin URL of `<ledger db>_witness` on the same server."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/') or '/carnet'}_witness"))


def witness_env(env: Mapping[str, str], signing_key: str) -> dict[str, str]:
    """The witness's environment: the audit's public key, never its private one, nor any
    service's secret, the admin URL or the broker's; its own key; the ledger read as the
    read-only auditor."""
    admin = env["DATABASE_URL"]
    key_id = env.get("AUDIT_SIGNING_KEY_ID") or DEFAULT_AUDIT_KEY_ID
    audit_public = env.get("AUDIT_VERIFY_PUBLIC_KEY") or public_key_b64(
        signer_from_config(
            {"AUDIT_SIGNING_KEY": env["AUDIT_SIGNING_KEY"], "AUDIT_SIGNING_KEY_ID": key_id}
        ).public_key()
    )
    out = {k: v for k, v in child_env(env, "witness").items() if k not in NOT_ITS_OWN}
    out.update(
        {
            "WITNESS_ADMIN_DATABASE_URL": env.get("WITNESS_ADMIN_DATABASE_URL")
            or witness_database_url(admin),
            "WITNESS_LEDGER_URL": env.get("WITNESS_LEDGER_URL")
            or service_database_url(admin, AUDITOR, dict(env)),
            "WITNESS_SIGNING_KEY": env.get("WITNESS_SIGNING_KEY") or signing_key,
            "WITNESS_SIGNING_KEY_ID": env.get("WITNESS_SIGNING_KEY_ID") or "local-witness",
            "AUDIT_VERIFY_PUBLIC_KEY": audit_public,
            "AUDIT_SIGNING_KEY_ID": key_id,
        }
    )
    return out


def witness_command(env: Mapping[str, str]) -> list[str]:
    """`carnet witness run`, from the checkout, serving /metrics."""
    return [
        sys.executable,
        "-m",
        "services.cli.main",
        "witness",
        "run",
        "--interval",
        env.get("WITNESS_INTERVAL_SECONDS") or DEFAULT_INTERVAL_SECONDS,
        "--metrics-port",
        str(metrics_port(env)),
    ]


def key_file(log_dir: Path) -> Path:
    """Where the local witness key is kept (beside the audit's, git-ignored)."""
    return log_dir.parent / "dev-witness-signing.key"
