"""The rules, pure: what one subject did in one window (a Tally) -> a Finding or None.

A rule fires when its measure is strictly above a step's threshold (N tolerates N); the
finding carries the highest step crossed: review, throttle or suspend. What is normal is the
sync contract (ADR 0014): each granted agenda read once over the horizon, then what changed.
state/ builds the tallies; the engine asks only the rules an event could have tipped, and the
cooldown keeps a rule to one finding per subject per step per window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.audit.detection.settings import DetectionSettings

D1, D2, D3 = "D1_reread", "D2_slow_reread", "D3_deep_past"
D4, D5, D6 = "D4_outside_grants", "D5_probing", "D6_refused_tokens"
D7, D8, D9 = "D7_token_replay", "D8_new_address", "D9_linked"
D10 = "D10_ignores_retry_after"
RULES = (D1, D2, D3, D4, D5, D6, D7, D8, D9, D10)
ACTIONS = ("review", "throttle", "suspend")  # in order: a rank is an index here
SEVERITY = {"review": "medium", "throttle": "high", "suspend": "critical"}


@dataclass(frozen=True)
class Tally:
    """What one subject did in one window [start, end): counts, never personal data."""

    start: datetime
    end: datetime
    accesses: int = 0  # access records, any outcome
    returned: int = 0  # appointments returned by successful reads
    refused: int = 0  # refused reads that are not quota and not an honest stale grant
    reach_refused: int = 0  # of those, refused as outside the principal's grants
    unauthenticated: int = 0  # refused tokens (401)
    auth_failures: int = 0  # failed sign-ins
    over_quota: int = 0  # quota refusals (429)
    rereads: int = 0  # distinct appointments read again unchanged (every read, for staff)
    deep: int = 0  # distinct appointments older than the horizon read, not as a delta
    beyond: int = 0  # distinct appointments served beyond the principal's reach
    new_address_reads: int = 0  # distinct unexplained reads from addresses new in the window
    new_addresses: int = 0  # addresses first used in the window (the very first one aside)
    distinct_appointments: int = 0
    distinct_patients: int = 0
    reach: int | None = None  # appointments in the principal's reach within the horizon
    contained_links: int = 0  # D9: linked principals contained in its window
    access_ids: tuple[UUID, ...] = ()  # a sample of the records counted, for the evidence
    addresses: tuple[str, ...] = ()  # addresses used in the window, newest first

    @property
    def seconds(self) -> int:
        """The window's length."""
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True)
class Finding:
    """A rule fired: what it measured, against which threshold, and what it recommends."""

    rule: str
    severity: str
    recommended_action: str  # "review" | "throttle" | "suspend"
    observed: float
    threshold: float
    tally: Tally
    summary: str  # counts and thresholds only: it goes to logs and to on-call

    @property
    def rank(self) -> int:
        """The step's place in review < throttle < suspend."""
        return ACTIONS.index(self.recommended_action)


Rule = Callable[[DetectionSettings, Tally], Finding | None]


def scaled(s: DetectionSettings, rule: str, step: str, reach: int | None) -> float:
    """max(floor, share x reach): a floor so a small reach is not a hair trigger."""
    floor = getattr(s, f"{rule}_{step}_floor")
    return max(float(floor), getattr(s, f"{rule}_{step}_share") * (reach or 0))


def graduated(
    rule: str, observed: float, steps: Sequence[tuple[str, float]], t: Tally, what: str
) -> Finding | None:
    """The highest step whose threshold the measure is strictly above, or None."""
    crossed = [(action, threshold) for action, threshold in steps if observed > threshold]
    if not crossed:
        return None
    action, threshold = crossed[-1]
    limits = ", ".join(f"{a} above {x:g}" for a, x in steps)
    summary = f"{rule}: {what} in {t.seconds} s ({limits})"
    return Finding(rule, SEVERITY[action], action, observed, threshold, t, summary[:500])


def _reach_text(t: Tally) -> str:
    return "reach unknown" if t.reach is None else f"reach {t.reach}"


def d1_reread(s: DetectionSettings, t: Tally) -> Finding | None:
    """Re-reading unchanged appointments: a delta sync never does, a scrape does."""
    steps = [(a, scaled(s, "d1", a, t.reach)) for a in ("throttle", "suspend")]
    what = f"{t.rereads} distinct appointments re-read unchanged ({_reach_text(t)})"
    return graduated(D1, t.rereads, steps, t, what)


def d2_slow_reread(s: DetectionSettings, t: Tally) -> Finding | None:
    """The same over a day: a scraper pacing itself under D1 still adds up."""
    steps = [(a, scaled(s, "d2", a, t.reach)) for a in ACTIONS]
    what = f"{t.rereads} distinct appointments re-read unchanged ({_reach_text(t)})"
    return graduated(D2, t.rereads, steps, t, what)


def d3_deep_past(s: DetectionSettings, t: Tally) -> Finding | None:
    """Paging into the past beyond the sync horizon: no sync asks for it."""
    steps = [(a, scaled(s, "d3", a, t.reach)) for a in ("throttle", "suspend")]
    what = f"{t.deep} distinct appointments older than the horizon read ({_reach_text(t)})"
    return graduated(D3, t.deep, steps, t, what)


def d4_outside_grants(s: DetectionSettings, t: Tally) -> Finding | None:
    """Asking outside the grants (refused), or being served beyond them (a flaw somewhere)."""
    steps = [("review", s.d4_review), ("throttle", s.d4_throttle), ("suspend", s.d4_suspend)]
    what = f"{t.reach_refused} reads refused outside the grants, {t.beyond} served beyond them"
    return graduated(D4, t.reach_refused + t.beyond, steps, t, what)


def d5_probing(s: DetectionSettings, t: Tally) -> Finding | None:
    """Refused and not-found reads and failed sign-ins: someone trying doors."""
    steps = [("throttle", s.d5_throttle), ("suspend", s.d5_suspend)]
    what = f"{t.refused} refused reads and {t.auth_failures} failed sign-ins"
    return graduated(D5, t.refused + t.auth_failures, steps, t, what)


def d6_refused_tokens(s: DetectionSettings, t: Tally) -> Finding | None:
    """Refused tokens and sign-ins from an address no principal answers for (guessing)."""
    what = f"{t.unauthenticated} refused tokens and {t.auth_failures} failed sign-ins"
    return graduated(D6, t.unauthenticated + t.auth_failures, [("review", s.d6_review)], t, what)


def d7_token_replay(s: DetectionSettings, t: Tally) -> Finding | None:
    """One dead or made-up token presented again and again, from wherever."""
    what = f"one token refused {t.unauthenticated} times from {len(t.addresses)} addresses"
    return graduated(D7, t.unauthenticated, [("review", s.d7_review)], t, what)


def d8_new_address(s: DetectionSettings, t: Tally) -> Finding | None:
    """Unexplained reads from a new address (a stolen credential), or many new addresses."""
    burst = d8_burst(s, t)
    if burst is not None:
        return burst
    what = f"{t.new_addresses} new addresses used"
    return graduated(D8, t.new_addresses, [("review", s.d8_review_addresses)], t, what)


def d8_burst(s: DetectionSettings, t: Tally) -> Finding | None:
    """The throttle step of D8: re-reads, deep or beyond reads, from new addresses."""
    steps = [("throttle", scaled(s, "d8", "throttle", t.reach))]
    what = f"{t.new_address_reads} unexplained reads from new addresses ({_reach_text(t)})"
    return graduated(D8, t.new_address_reads, steps, t, what)


def d9_linked(s: DetectionSettings, t: Tally) -> Finding | None:
    """Now sharing an address or a user agent with a principal contained lately."""
    what = f"linked to {t.contained_links} principals throttled or suspended"
    return graduated(D9, t.contained_links, [("throttle", 0)], t, what)


def d10_ignores_retry_after(s: DetectionSettings, t: Tally) -> Finding | None:
    """Asking again and again past 429: a client that waits Retry-After makes a few per page."""
    steps = [("throttle", s.d10_throttle), ("suspend", s.d10_suspend)]
    what = f"{t.over_quota} reads refused over quota"
    return graduated(D10, t.over_quota, steps, t, what)


RULE_FUNCTIONS: dict[str, Rule] = {
    D1: d1_reread,
    D2: d2_slow_reread,
    D3: d3_deep_past,
    D4: d4_outside_grants,
    D5: d5_probing,
    D6: d6_refused_tokens,
    D7: d7_token_replay,
    D8: d8_new_address,
    D9: d9_linked,
    D10: d10_ignores_retry_after,
}
# The access records a rule's evidence samples (the marks ingest.py samples).
SAMPLE_OF = {D1: "reread", D2: "reread", D3: "deep", D4: "outside", D5: "refused",
             D6: "unauthenticated", D7: "unauthenticated", D8: "new_address",
             D9: "any", D10: "quota"}  # fmt: skip
# The rules whose thresholds scale with the reach.
SCALED = (D1, D2, D3, D8)


def prefix(rule: str) -> str:
    """`D10_ignores_retry_after` -> `d10`: the start of the rule's settings' names."""
    return rule.split("_", 1)[0].lower()


def window_of(s: DetectionSettings, rule: str) -> int:
    """The rule's window in seconds; also its cooldown."""
    return int(getattr(s, f"{prefix(rule)}_window_s"))


def quiet(cooled: tuple[int, datetime] | None, rank: int, now: datetime) -> bool:
    """A finding waits while the rule cools down, unless it is a higher step than the last."""
    return cooled is not None and now < cooled[1] and rank <= cooled[0]
