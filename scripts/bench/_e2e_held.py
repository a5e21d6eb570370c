"""When a load step is held, for every load kind (bookings, connector page reads): one rule,
each failed check named, so a booking step and a read step are judged alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scripts.bench._load import growth
from scripts.bench._system import Lags

GROWTH_LIMIT_S = 1.0  # a lag whose last third exceeds its first third by more is growing...
LATE_LIMIT_S = 2.0  # ... when its last third also sits above this (not a jitter near zero)
MAX_ERRORS = 0.005  # share of failed requests a held rate tolerates
MIN_ACHIEVED = 0.95  # share of the offered rate that must be answered

Series = Sequence[tuple[float, float]]  # (when, seconds) points of one latency or lag


def lag_series(lags: Sequence[Lags]) -> dict[str, Series]:
    """The pipeline's lags as growth series: relay lag and consumer lag, sampled each second."""
    return {
        "relay lag": [(s.at, s.relay_seconds) for s in lags],
        "consumer lag": [(s.at, s.consumer_seconds) for s in lags],
    }


def held_reasons(
    noun: str,
    offered: int,
    failed: int,
    achieved: float,
    rate: float,
    series: Mapping[str, Series],
    missing: Mapping[str, int],
    drain_s: float,
) -> list[str]:
    """Why a step was not held (empty: held). `noun` names the requests ("bookings"),
    `missing` what the audit side did not hold after the drain ("bookings not ledgered": n)."""
    reasons = []
    if failed > MAX_ERRORS * offered:
        reasons.append(f"{failed} of {offered} {noun} failed")
    if achieved < MIN_ACHIEVED * rate:
        reasons.append(f"{achieved:.0f}/s answered of {rate:.0f}/s offered")
    for name, points in series.items():
        g, late = growth(points)
        if g > GROWTH_LIMIT_S and late > LATE_LIMIT_S:
            reasons.append(f"{name} grew {g:.1f} s over the step, to {late:.1f} s")
    for what, n in missing.items():
        if n:
            reasons.append(f"{n} {what} {drain_s:.0f} s after")
    return reasons


def worst(lags: Sequence[Lags], name: str) -> float:
    """The largest sample of one lag (a Lags field) during a step; nan without samples."""
    return max((getattr(s, name) for s in lags), default=float("nan"))


def pace(achieved: float, recorded: Sequence[float]) -> float:
    """What the pipeline absorbed: the lower of requests answered per second and ledger rows
    per second (first to last recorded_at; under overload, the ledger's pace)."""
    ordered = sorted(recorded)
    if len(ordered) < 2 or ordered[-1] == ordered[0]:
        return achieved
    return min(achieved, (len(ordered) - 1) / (ordered[-1] - ordered[0]))


def cpu_ms_per(cpu: Mapping[str, float], answered: int, group: str | None = None) -> float:
    """CPU ms one answered request cost a group (all groups when None); nan without figures."""
    if not answered or not cpu:
        return float("nan")
    spent = sum(cpu.values()) if group is None else cpu.get(group, 0.0)
    return spent * 1e3 / answered
