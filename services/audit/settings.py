"""The audit service's own settings, read from the nameko config (environment-backed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.config import DEFAULT_DATABASE_URL

DEFAULT_CHECKPOINT_SECONDS = 10.0
DEFAULT_GRACE_SECONDS = 30.0
DEFAULT_TAIL_VERIFY_SECONDS = 60.0  # the periodic tail check (tail_verify.py)
DEFAULT_REPORT_WAIT_SECONDS = 30.0  # how long a report's `?wait=true` waits for the ledger


@dataclass(frozen=True)
class AuditSettings:
    """Checkpoint cadence, verify's database and grace period, a report's longest wait."""

    checkpoint_seconds: float
    verify_database_url: str
    verify_grace_seconds: float
    report_wait_seconds: float = DEFAULT_REPORT_WAIT_SECONDS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AuditSettings:
        """Defaults for what is unset; numbers may arrive as strings from the environment."""
        return cls(
            checkpoint_seconds=_number(
                config, "LEDGER_CHECKPOINT_SECONDS", DEFAULT_CHECKPOINT_SECONDS
            ),
            verify_database_url=str(
                config.get("AUDIT_VERIFY_DATABASE_URL")
                or config.get("DATABASE_URL")
                or DEFAULT_DATABASE_URL
            ),
            verify_grace_seconds=_number(
                config, "AUDIT_VERIFY_GRACE_SECONDS", DEFAULT_GRACE_SECONDS
            ),
            report_wait_seconds=_number(
                config, "AUDIT_REPORT_WAIT_SECONDS", DEFAULT_REPORT_WAIT_SECONDS
            ),
        )


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    """A number from the config; unset or empty means the default (0 stays 0)."""
    value = config.get(key)
    return default if value is None or value == "" else float(value)
