"""Detection thresholds from the nameko config (AUDIT_D1_* ... AUDIT_D6_*), with defaults.

Defaults are documented in docs/audit.md "Detection rules"; keep both in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

MINUTE = 60


class DetectionConfigError(ValueError):
    """A detection key holds a value the rules cannot use: refuse it rather than guess."""


@dataclass(frozen=True)
class DetectionSettings:
    """Every rule's window (seconds, whole minutes) and threshold; a rule fires above it."""

    enabled: bool = True
    # D1: appointments returned in the window vs. the principal's own mean per window.
    d1_window_s: int = 600
    d1_baseline_s: int = 86_400
    d1_factor: float = 10.0
    d1_min_volume: int = 200
    d1_absolute_cap: int = 5_000
    # D2: distinct patients read vs. patients booked with the practitioners read.
    d2_window_s: int = 3_600
    d2_factor: float = 2.0
    d2_min_patients: int = 100
    d2_absolute_cap: int = 1_000
    d2_booking_horizon_s: int = 30 * 86_400
    # D3: reads refused because they were outside the principal's grants.
    d3_window_s: int = 600
    d3_max_denials: int = 0
    # D4: refused reads plus failed sign-ins of the connector.
    d4_window_s: int = 300
    d4_max_failures: int = 20
    # D5: a connector's credentials used from a new network address.
    d5_window_s: int = 3_600
    # D6: searches at the maximal page size or following a cursor.
    d6_window_s: int = 600
    d6_max_pages: int = 50
    d6_page_size: int = 100

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DetectionSettings:
        """Each field `dN_xxx` from `AUDIT_DN_XXX` (`enabled` from AUDIT_DETECTION_ENABLED)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = config_key(f.name)
            raw = config.get(key)
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(key, raw, type(getattr(cls, f.name)))
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Windows are whole minutes (the buckets' grain); thresholds are not negative."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if value < 0:
                raise DetectionConfigError(f"{config_key(f.name)} must not be negative")
            if f.name.endswith("_s") and (value < MINUTE or value % MINUTE):
                raise DetectionConfigError(
                    f"{config_key(f.name)} must be a whole number of minutes, at least 60"
                )
        if self.d6_page_size < 1:
            raise DetectionConfigError("AUDIT_D6_PAGE_SIZE must be at least 1")

    def longest_window_s(self) -> int:
        """How long the sets and samples must be kept: the longest window, plus a minute."""
        windows = (self.d1_window_s, self.d2_window_s, self.d3_window_s, self.d4_window_s)
        return max(*windows, self.d5_window_s, self.d6_window_s) + MINUTE

    def retention_s(self) -> int:
        """How long the counters must be kept: also D1's baseline before its window."""
        return max(self.longest_window_s(), self.d1_window_s + self.d1_baseline_s + MINUTE)


def config_key(field_name: str) -> str:
    """`d1_window_s` -> `AUDIT_D1_WINDOW_SECONDS`; `enabled` -> `AUDIT_DETECTION_ENABLED`."""
    if field_name == "enabled":
        return "AUDIT_DETECTION_ENABLED"
    name = field_name[:-2] + "_seconds" if field_name.endswith("_s") else field_name
    return f"AUDIT_{name.upper()}"


def _parse(key: str, raw: Any, kind: type) -> Any:
    """Environment values arrive as text; say which key is wrong, never echo a guess."""
    try:
        if kind is bool:
            text = str(raw).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text in ("true", "1", "yes")
        if kind is int:
            number = float(raw)
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)
        return float(raw)
    except (TypeError, ValueError) as error:
        raise DetectionConfigError(f"{key} must be a {kind.__name__}") from error
