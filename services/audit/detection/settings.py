"""Detection thresholds from the nameko config (AUDIT_DETECTION_*, AUDIT_LINK_*, AUDIT_D1_* ...
AUDIT_D10_*), with defaults.

Defaults and why each is what it is: docs/detection.md; keep both in step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

MINUTE = 60
HOUR, DAY = 3_600, 86_400


class DetectionConfigError(ValueError):
    """A detection key holds a value the rules cannot use: refuse it rather than guess."""


@dataclass(frozen=True)
class DetectionSettings:
    """The sync contract's terms, every rule's window (seconds, whole minutes) and thresholds.

    A rule fires strictly above a threshold. A threshold `max(floor, share x reach)` scales
    with what the principal may legitimately read (its reach), never with its own history, so
    a quiet warm-up cannot raise it.
    """

    enabled: bool = True
    # The sync contract (ADR 0014): a partner reads appointments starting from `horizon` ago on.
    detection_horizon_s: int = 30 * DAY
    # A re-read of an appointment that changed this long before the previous read is a delta
    # sync's overlap (partners ask `_lastUpdated=gt` a little before their last sync), not a scrape.
    detection_overlap_s: int = 15 * MINUTE
    # How long a principal's reads are remembered: a re-read after that counts as a first read.
    detection_memory_s: int = 30 * DAY
    # How often a principal's reach (appointments in its granted agendas) is counted again.
    detection_reach_refresh_s: int = 10 * MINUTE
    # A read served on an agenda whose grant audit saw revoked longer ago than this is beyond
    # the grants (booking's caches drop a revoked grant within a second).
    detection_grant_lag_s: int = MINUTE
    # Principals sharing an address or a user agent in this window (or a vendor) are linked,
    # unless more than `link_max_group` share it: then it is a product or a shared network.
    link_window_s: int = DAY
    link_max_group: int = 5
    # D1: distinct unchanged appointments re-read in an hour.
    d1_window_s: int = HOUR
    d1_throttle_floor: int = 50
    d1_throttle_share: float = 0.02
    d1_suspend_floor: int = 100
    d1_suspend_share: float = 0.04
    # D2: the same over a day, for a scraper that stays under D1 every hour.
    d2_window_s: int = DAY
    d2_review_floor: int = 100
    d2_review_share: float = 0.05
    d2_throttle_floor: int = 300
    d2_throttle_share: float = 0.15
    d2_suspend_floor: int = 600
    d2_suspend_share: float = 0.30
    # D3: distinct appointments older than the horizon read (not as a delta) in an hour.
    d3_window_s: int = HOUR
    d3_throttle_floor: int = 50
    d3_throttle_share: float = 0.02
    d3_suspend_floor: int = 100
    d3_suspend_share: float = 0.04
    # D4: reads refused as outside the grants, plus appointments served beyond them.
    d4_window_s: int = 10 * MINUTE
    d4_review: int = 0
    d4_throttle: int = 3
    d4_suspend: int = 10
    # D5: refused reads of any kind but quota, and failed sign-ins, of one principal.
    d5_window_s: int = 10 * MINUTE
    d5_throttle: int = 20
    d5_suspend: int = 50
    # D6: refused tokens and failed sign-ins from one address that no principal answers for.
    d6_window_s: int = 10 * MINUTE
    d6_review: int = 10
    # D7: one refused token presented again and again (replay of a dead or guessed token).
    d7_window_s: int = HOUR
    d7_review: int = 20
    # D8: unexplained reads from an address new to an established principal; many new ones.
    d8_window_s: int = HOUR
    d8_throttle_floor: int = 25
    d8_throttle_share: float = 0.01
    d8_review_addresses: int = 3
    # D9: a principal starts sharing an address or user agent with one contained this long ago.
    d9_window_s: int = DAY
    # D10: reads refused over quota (429) of one principal: a client that waits Retry-After
    # makes about one per page; more than one a second for 10 minutes does not wait.
    d10_window_s: int = 10 * MINUTE
    d10_throttle: int = 600
    d10_suspend: int = 1200

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DetectionSettings:
        """Each field from its key (config_key); unset or empty keeps the default."""
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
        """Windows are whole minutes; counts not negative; shares within 0..1; steps ordered."""
        for f in fields(self):
            value, key = getattr(self, f.name), config_key(f.name)
            if isinstance(value, bool):
                continue
            if not math.isfinite(value) or value < 0:
                raise DetectionConfigError(f"{key} must be a finite number, not negative")
            if f.name.endswith("_s") and (value < MINUTE or value % MINUTE):
                raise DetectionConfigError(f"{key} must be a whole number of minutes, at least 60")
            if f.name.endswith("_share") and value > 1:
                raise DetectionConfigError(f"{key} is a share of the reach: between 0 and 1")
        if self.link_max_group < 2:
            raise DetectionConfigError("AUDIT_LINK_MAX_GROUP must be at least 2")
        for rule, steps in STEP_ORDER.items():
            for part in ("floor", "share"):
                values = [getattr(self, f"{rule}_{step}_{part}") for step in steps]
                if values != sorted(values):
                    raise DetectionConfigError(
                        f"{rule.upper()}: each step's {part} at least the last"
                    )
        for rule in ("d4", "d5", "d10"):
            steps = [getattr(self, f"{rule}_{s}") for s in ("review", "throttle", "suspend")
                     if hasattr(self, f"{rule}_{s}")]  # fmt: skip
            if steps != sorted(steps):
                raise DetectionConfigError(
                    f"{rule.upper()}: each step's threshold at least the last"
                )

    def longest_window_s(self) -> int:
        """How long the windows' sets and samples are kept: the longest window, plus a minute."""
        windows = [getattr(self, f.name) for f in fields(self) if f.name[0] == "d" and
                   f.name[1].isdigit() and f.name.endswith("_window_s")]  # fmt: skip
        return max(windows) + MINUTE


# The graduated rules whose thresholds scale with the reach, and their steps in order.
STEP_ORDER = {
    "d1": ("throttle", "suspend"),
    "d2": ("review", "throttle", "suspend"),
    "d3": ("throttle", "suspend"),
}


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
    except (TypeError, ValueError, OverflowError) as error:
        raise DetectionConfigError(f"{key} must be a {kind.__name__}") from error
