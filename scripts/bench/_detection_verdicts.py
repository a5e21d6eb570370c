"""Issue #19's "Done when" for detection, judged on the scenario bench's outcomes.

The report prints these verdicts and `make test` asserts them on the quick run; the targets
are the issue's, in figures: "the first few dozen" refused reads is three dozen at most,
"soon after" is within a hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from scripts.bench._detection_measure import Outcome
from scripts.bench._detection_platform import QUOTAS

CONTAINED_SHARE = 0.10  # of the reach, taken before containment (suspension)
FEW_DOZEN, SOON_AFTER = 36, 100  # refused reads before the throttle, before the suspension
REVIEW_WITHIN = timedelta(days=1)
CONTAINED_WITHIN_SHARE = ("burst", "warmup", "two_connectors")


@dataclass(frozen=True)
class Verdict:
    """One target: met or not, with the figures that say so."""

    key: str
    target: str
    met: bool
    detail: str


def quota_per_day(kind: str) -> int:
    """What the default quota lets one principal take in a day, every rule silent."""
    per_hour, burst = QUOTAS[kind]
    return per_hour * 24 + burst


def _pct(x: float) -> str:
    return f"{x:.1%}"


def verdicts(outcomes: Sequence[Outcome]) -> list[Verdict]:
    """Every target the outcomes at hand can be judged on; an attack's is missed too when its
    honest bystander was throttled or suspended (the only target of the attacks the issue
    sets no figure for)."""
    return [v for o in outcomes for v in (_spared(o, _verdicts(o)) if not o.honest
                                          else _verdicts(o))]  # fmt: skip


def _spared(o: Outcome, found: list[Verdict]) -> list[Verdict]:
    """An attack's verdicts with its bystander's fate: a target met by containing an honest
    partner too is not met."""
    spared = o.false_positives == 0
    fate = f"bystander throttled or suspended: {o.false_positives}"
    if not found:
        return [Verdict(o.key, "its honest bystander untouched", spared, fate)]
    return [Verdict(v.key, f"{v.target}; its honest bystander untouched", v.met and spared,
                    f"{v.detail}; {fate}") for v in found]  # fmt: skip


def _verdicts(o: Outcome) -> list[Verdict]:
    """The targets one outcome is judged on (none for the attacks the issue sets none for)."""
    if o.honest:
        return [Verdict(o.key, "0 suspended, 0 throttled", o.false_positives == 0,
                        f"{o.false_positives} throttled or suspended")]  # fmt: skip
    if o.key in CONTAINED_WITHIN_SHARE:
        met = o.suspended_after is not None and o.share_at_suspension <= CONTAINED_SHARE
        who = "both" if o.principals == 2 else "it"
        return [Verdict(o.key, f"{who} contained after ≤ 10 % of the reach", met,
                        f"suspended: {o.suspended_after is not None}; taken "
                        f"{_pct(o.share_at_suspension)} of {o.reach:,}")]  # fmt: skip
    if o.key == "patient_prober":
        throttled = o.throttled_after is not None and o.refused_at_throttle <= FEW_DOZEN
        suspended = o.suspended_after is not None and o.refused_at_suspension <= SOON_AFTER
        return [Verdict(o.key, f"throttled within {FEW_DOZEN} refused reads, suspended "
                        f"within {SOON_AFTER}",
                        throttled and suspended and o.taken_at_suspension == 0,
                        f"{o.refused_at_throttle} refused at the throttle, "
                        f"{o.refused_at_suspension} at the suspension, "
                        f"{o.taken_at_suspension} of others' served")]  # fmt: skip
    if o.key == "slow":
        flagged = o.first_review_after is not None and o.first_review_after <= REVIEW_WITHIN
        bound = quota_per_day("connector")
        return [Verdict(o.key, "flagged for review within a day, bounded by its quota",
                        flagged and o.taken_per_day <= bound,
                        f"review after {o.first_review_after}; {o.taken_per_day:,.0f} "
                        f"a day taken, quota bound {bound:,} a day")]  # fmt: skip
    return []
