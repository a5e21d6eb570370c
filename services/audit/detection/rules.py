"""The rules, pure: what one principal did in one window (a Tally) -> a Finding or None.

Every rule fires when its measure is strictly above its threshold, so a threshold of N
tolerates N and fires at N + 1. State (state.py) builds the tallies; the engine decides
which rules to ask, and the cooldown keeps a rule to one finding per principal per window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

from services.audit.detection.settings import DetectionSettings

D1, D2, D3, D4, D5, D6 = (
    "D1_volume",
    "D2_patient_spread",
    "D3_outside_grant",
    "D4_probing",
    "D5_new_address",
    "D6_deep_paging",
)
RULES = (D1, D2, D3, D4, D5, D6)

# Booking's refusals that say the principal asked beyond its grants (services/booking/queries.py
# and commands.py word them so); any other refusal counts for D4 only.
REACH_MARKERS = ("reach", "grant", "write access", "their own")


@dataclass(frozen=True)
class Tally:
    """What one principal did in one window [start, end): counts, never personal data."""

    start: datetime
    end: datetime
    accesses: int = 0  # access records, any outcome
    returned: int = 0  # appointments returned by successful reads
    denied: int = 0  # refused reads, any reason
    reach_denied: int = 0  # refused because outside the principal's grants
    auth_failures: int = 0  # failed sign-ins naming the connector
    deep_pages: int = 0  # searches at the maximal page size or following a cursor
    distinct_patients: int = 0
    distinct_appointments: int = 0
    booked_patients: int = 0  # D2: patients booked with the practitioners read
    baseline: float | None = None  # D1: mean appointments returned per window before
    known_addresses: int = 0  # D5: addresses the connector used before this event
    new_address: str | None = None  # D5: the address this event used for the first time
    access_ids: tuple[UUID, ...] = ()  # a sample, for the evidence
    addresses: tuple[str, ...] = ()  # addresses used in the window, for the evidence

    @property
    def seconds(self) -> int:
        """The window's length."""
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True)
class Finding:
    """A rule fired: what it measured, against what, and what it recommends."""

    rule: str
    severity: str
    recommended_action: str  # "suspend" | "review"
    observed: float
    threshold: float
    tally: Tally
    summary: str  # counts and rule only: it goes to logs and to on-call


Rule = Callable[[DetectionSettings, Tally], Finding | None]


def bounded(factor: float, base: float, floor: float, cap: float) -> float:
    """factor x base, raised to a floor (no history is not licence) and capped absolutely."""
    return min(float(cap), max(float(floor), factor * base))


def _above(
    rule: str, severity: str, action: str, observed: float, threshold: float, t: Tally, text: str
) -> Finding | None:
    """A finding when the measure is strictly above its threshold (N tolerates N)."""
    return (
        Finding(rule, severity, action, observed, threshold, t, text)
        if observed > threshold
        else None
    )


def d1_volume(s: DetectionSettings, t: Tally) -> Finding | None:
    """Far more appointments than the principal's own mean per window, or above the cap."""
    threshold = bounded(s.d1_factor, t.baseline or 0.0, s.d1_min_volume, s.d1_absolute_cap)
    if t.returned <= threshold:
        return None
    over_cap = t.returned > s.d1_absolute_cap
    base = "no baseline" if t.baseline is None else f"baseline {t.baseline:.1f}"
    return Finding(
        D1,
        "critical" if over_cap else "high",
        "suspend",
        t.returned,
        threshold,
        t,
        f"{D1}: {t.returned} appointments returned in {t.seconds} s by {t.accesses} requests "
        f"({base}, threshold {threshold:g})",
    )


def d2_patient_spread(s: DetectionSettings, t: Tally) -> Finding | None:
    """More distinct patients than the practitioners read have booked, by a wide margin."""
    threshold = bounded(s.d2_factor, t.booked_patients, s.d2_min_patients, s.d2_absolute_cap)
    if t.distinct_patients <= threshold:
        return None
    return Finding(
        D2,
        "high" if t.distinct_patients > s.d2_absolute_cap else "medium",
        "review",
        t.distinct_patients,
        threshold,
        t,
        f"{D2}: {t.distinct_patients} distinct patients read in {t.seconds} s; "
        f"{t.booked_patients} booked with the practitioners read (threshold {threshold:g})",
    )


def d3_outside_grant(s: DetectionSettings, t: Tally) -> Finding | None:
    """Reads refused for asking beyond the principal's grants."""
    summary = (
        f"{D3}: {t.reach_denied} reads refused as outside the grants in {t.seconds} s "
        f"(threshold {s.d3_max_denials})"
    )
    return _above(D3, "high", "suspend", t.reach_denied, s.d3_max_denials, t, summary)


def d4_probing(s: DetectionSettings, t: Tally) -> Finding | None:
    """A burst of refused reads and failed sign-ins: someone trying doors."""
    failures = t.denied + t.auth_failures
    summary = (
        f"{D4}: {t.denied} refused reads and {t.auth_failures} failed sign-ins in "
        f"{t.seconds} s (threshold {s.d4_max_failures})"
    )
    return _above(D4, "high", "suspend", failures, s.d4_max_failures, t, summary)


def d5_new_address(s: DetectionSettings, t: Tally) -> Finding | None:
    """Credentials used from an address new for the connector; the first use is the baseline."""
    if t.new_address is None or t.known_addresses == 0:
        return None
    return Finding(
        D5,
        "medium",
        "review",
        1,
        0,
        t,
        f"{D5}: connector credentials used from a network address not seen for it before; "
        f"{t.known_addresses} known before",
    )


def d6_deep_paging(s: DetectionSettings, t: Tally) -> Finding | None:
    """Many maximal pages or cursor follow-ups: walking the whole agenda, page by page."""
    summary = (
        f"{D6}: {t.deep_pages} searches at page size {s.d6_page_size} or by cursor in "
        f"{t.seconds} s (threshold {s.d6_max_pages})"
    )
    return _above(D6, "medium", "review", t.deep_pages, s.d6_max_pages, t, summary)


RULE_FUNCTIONS: dict[str, Rule] = {
    D1: d1_volume,
    D2: d2_patient_spread,
    D3: d3_outside_grant,
    D4: d4_probing,
    D5: d5_new_address,
    D6: d6_deep_paging,
}


def window_of(s: DetectionSettings, rule: str) -> int:
    """The rule's window in seconds; also its cooldown."""
    return int(getattr(s, f"{rule[:2].lower()}_window_s"))


def cooling(cooled_until: datetime | None, now: datetime) -> bool:
    """A rule that fired stays quiet for its window: one finding per principal per window."""
    return cooled_until is not None and now < cooled_until


def is_reach_denial(reason: str | None) -> bool:
    """Booking's refusal says the principal asked outside its grants (D3), not something else."""
    text = (reason or "").lower()
    return any(marker in text for marker in REACH_MARKERS)


def is_deep_page(query: str, result_count: int, page_size: int) -> bool:
    """A search that asks for (or got) a maximal page, or follows a cursor (D6)."""
    if result_count >= page_size:
        return True
    # "GET /fhir/Appointment?_count=100&_cursor=..." from the HTTP API; a bare query string too.
    text = query.split(" ", 1)[-1]
    qs = urlsplit(text).query if "?" in text else (text if "=" in text else "")
    params = dict(parse_qsl(qs, keep_blank_values=True))
    if params.get("_cursor"):
        return True
    count = params.get("_count", "")
    return count.isdigit() and int(count) >= page_size
