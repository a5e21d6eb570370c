"""Identity's settings from config.yaml (itself from the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from contracts.audit import RULES_V1_TO_V2

# The configured bootstrap admin acts under this fixed id, so its acts are attributable.
BOOTSTRAP_ADMIN_ID = uuid5(UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "carnet:bootstrap-admin")
# SuspiciousAccessDetected V2 rules (docs/audit.md): D2, D5 and D6 only ask for a review.
DEFAULT_SUSPEND_RULES = ("D1_volume", "D3_outside_grant", "D4_probing")


@dataclass(frozen=True)
class Settings:
    """Token lifetime, bootstrap admin, and which detection rules suspend a connector."""

    admin_token: str = ""
    token_ttl_s: int = 900
    suspend_on_rules: tuple[str, ...] = DEFAULT_SUSPEND_RULES
    max_body_bytes: int = 64 * 1024


def _csv(value: Any) -> tuple[str, ...]:
    return tuple(v.strip() for v in str(value or "").split(",") if v.strip())


def _rules(value: Any) -> tuple[str, ...]:
    """V1 rule names still configured somewhere keep their meaning: detections arrive as V2."""
    return tuple(dict.fromkeys(RULES_V1_TO_V2.get(rule, rule) for rule in _csv(value)))


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """Read IDENTITY_* keys; an empty admin token disables the bootstrap admin."""
    rules = config.get("IDENTITY_SUSPEND_ON_RULES")
    return Settings(
        admin_token=str(config.get("CARNET_ADMIN_TOKEN") or ""),
        token_ttl_s=int(config.get("IDENTITY_TOKEN_TTL_SECONDS", 900)),
        suspend_on_rules=DEFAULT_SUSPEND_RULES if rules is None else _rules(rules),
    )
