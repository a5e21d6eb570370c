"""Identity's settings from config.yaml (itself from the environment), read once at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid5

from contracts.identity_accounts import MAX_PER_HOUR

# The configured bootstrap admin acts under this fixed id, so its acts are attributable.
BOOTSTRAP_ADMIN_ID = uuid5(UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "carnet:bootstrap-admin")
# Replaced by audit's recommended_action and IDENTITY_AUTO_CONTAIN (docs/identity.md#containment).
RETIRED_KEYS = ("IDENTITY_SUSPEND_ON_RULES",)
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class Settings:
    """Token lifetime, bootstrap admin, and how identity answers audit's findings."""

    admin_token: str = ""
    token_ttl_s: int = 900
    max_body_bytes: int = 64 * 1024
    # The operator's kill-switch: off, findings are logged and nothing is contained.
    auto_contain: bool = True
    # A throttle (QuotaSet reason "throttle") lets a principal read this many appointments
    # per hour, this many at once, for this long after the finding.
    throttle_per_hour: int = 500
    throttle_burst: int = 50
    throttle_s: int = 3600


class SettingsError(ValueError):
    """A configuration value identity cannot run with: the key is named, the value is not."""


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    raw = config.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip().lower()
    if text not in _FLAGS:
        raise SettingsError(f"{key} must be true or false")
    return _FLAGS[text]


def _count(config: Mapping[str, Any], key: str, default: int, top: int) -> int:
    raw = config.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise SettingsError(f"{key} must be a whole number") from None
    if not 1 <= value <= top:
        raise SettingsError(f"{key} must be between 1 and {top}")
    return value


def _no_retired_keys(*sources: Mapping[str, Any]) -> None:
    """A retired key still set meant something (an empty rule list: never suspend); silently
    ignoring it would turn containment on behind the operator's back."""
    for key in RETIRED_KEYS:
        if any(source.get(key) is not None for source in sources):
            raise SettingsError(
                f"{key} is retired: audit recommends review, throttle or suspend per finding;"
                " set IDENTITY_AUTO_CONTAIN=false to contain nothing automatically"
            )


def settings_from_config(
    config: Mapping[str, Any], environ: Mapping[str, Any] | None = None
) -> Settings:
    """Read CARNET_ADMIN_TOKEN and IDENTITY_* keys; an empty admin token disables bootstrap."""
    _no_retired_keys(config, environ or {})
    per_hour = _count(config, "IDENTITY_THROTTLE_PER_HOUR", 500, MAX_PER_HOUR)
    burst = _count(config, "IDENTITY_THROTTLE_BURST", 50, MAX_PER_HOUR)
    if burst > per_hour:
        raise SettingsError("IDENTITY_THROTTLE_BURST must not exceed IDENTITY_THROTTLE_PER_HOUR")
    return Settings(
        admin_token=str(config.get("CARNET_ADMIN_TOKEN") or ""),
        token_ttl_s=_count(config, "IDENTITY_TOKEN_TTL_SECONDS", 900, 86_400),
        auto_contain=_flag(config, "IDENTITY_AUTO_CONTAIN", True),
        throttle_per_hour=per_hour,
        throttle_burst=burst,
        throttle_s=_count(config, "IDENTITY_THROTTLE_SECONDS", 3600, 30 * 86_400),
    )
