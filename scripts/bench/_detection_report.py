"""The detection bench's tables: on the console, and as the generated section of
docs/detection.md (one row per scenario, the verdicts, the containment lag's effect)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import timedelta

from scripts.bench._detection_measure import Outcome
from scripts.bench._detection_platform import QUOTAS, THROTTLE
from scripts.bench._detection_verdicts import Verdict, quota_per_day, verdicts
from scripts.bench._detection_world import PER_AGENDA
from services.audit.detection.rules import scaled
from services.audit.detection.settings import DetectionSettings

SECTION = "## Scenario bench"
THROTTLED_PER_DAY = THROTTLE[0] * 24 + THROTTLE[1]


def _under_rules() -> str:
    """What a connector re-reads a day under D2's thresholds, at 1 and 40 agendas."""
    s = DetectionSettings()
    small, large = PER_AGENDA, 40 * PER_AGENDA
    review = [scaled(s, "d2", "review", r) for r in (small, large)]
    suspend = [scaled(s, "d2", "suspend", r) for r in (small, large)]
    return (
        "Under the rules, a connector that stays under every threshold re-reads at most D2's "
        f"review threshold a day, max({s.d2_review_floor}, {s.d2_review_share:.0%} of its "
        f"reach): {review[0]:,.0f} for one agenda, {review[1]:,.0f} for 40; one whose review "
        f"findings nobody reads, D2's suspend threshold: {suspend[0]:,.0f} and {suspend[1]:,.0f}."
    )


def when(td: timedelta | None) -> str:
    """A simulated delay as people read it: 1.3 s, 6 h 40 min, 2 d 3 h; "no" when none."""
    if td is None:
        return "no"
    s = td.total_seconds()
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def _findings(o: Outcome) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(o.findings.items())) or "none"


def _ms(o: Outcome) -> str:
    if not o.handle_ms:
        return "—"
    p95 = statistics.quantiles(o.handle_ms, n=20)[-1] if len(o.handle_ms) > 1 else o.handle_ms[0]
    return f"{statistics.median(o.handle_ms):.1f} / {p95:.1f}"


def honest_table(outcomes: Sequence[Outcome]) -> list[str]:
    """Honest partners: anything done to them, over how long."""
    rows = [
        "| scenario | reach | simulated | throttled | suspended | review findings | events "
        "| engine ms p50 / p95 |",
        "|---|---:|---:|:---:|:---:|---|---:|---:|",
    ]
    for o in outcomes:
        reviews = f"{o.reviews} ({_findings(o)})" if o.reviews else "0"
        rows.append(
            f"| {o.title} | {o.reach:,} | {when(o.simulated)} | {when(o.throttled_after)} "
            f"| {when(o.suspended_after)} | {reviews} | {o.events:,} | {_ms(o)} |"
        )
    return rows


def attack_table(outcomes: Sequence[Outcome]) -> list[str]:
    """Attacks: when contained (after the attack started), what was taken by then."""
    rows = [
        "| scenario | reach | throttled after | taken by then | suspended after "
        "| taken by then | refused reads by throttle / suspension | findings "
        "| honest bystander: throttled or suspended / reviews |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for o in outcomes:
        rows.append(
            f"| {o.title} | {o.reach:,} | {when(o.throttled_after)} "
            f"| {o.taken_at_throttle:,} ({o.share_at_throttle:.1%}) | {when(o.suspended_after)} "
            f"| {o.taken_at_suspension:,} ({o.share_at_suspension:.1%}) "
            f"| {o.refused_at_throttle} / {o.refused_at_suspension} | {_findings(o)} "
            f"| {o.false_positives} / {o.reviews} |"
        )
    return rows


def verdict_table(found: Sequence[Verdict]) -> list[str]:
    """The issue's targets, met or missed, with the figures."""
    rows = ["| scenario | target | met? | figures |", "|---|---|:---:|---|"]
    rows += [f"| {v.key} | {v.target} | {'yes' if v.met else '**missed**'} | {v.detail} |"
             for v in found]  # fmt: skip
    return rows


def lag_table(by_lag: Mapping[float, Sequence[Outcome]]) -> list[str]:
    """Share of the reach taken before the suspension, per containment lag."""
    lags = sorted(by_lag)
    keys = [o.key for o in by_lag[lags[0]]]
    rows = ["| scenario | " + " | ".join(f"lag {lag:g} s" for lag in lags) + " |",
            "|---|" + "---:|" * len(lags)]  # fmt: skip
    for key in keys:
        cells = []
        for lag in lags:
            o = next(x for x in by_lag[lag] if x.key == key)
            cells.append(f"{o.share_at_suspension:.1%}" if o.suspended_after else "not contained")
        title = next(x.title for x in by_lag[lags[0]] if x.key == key)
        rows.append(f"| {title} | " + " | ".join(cells) + " |")
    return rows


def _missed(missed: Sequence[Verdict]) -> str:
    """The missed targets in one sentence (their reasons are in the page above)."""
    if not missed:
        return ""
    return " Missed: " + "; ".join(f"{v.key} ({v.detail})" for v in missed) + "."


def render_console(outcomes: Sequence[Outcome]) -> str:
    """The tables and verdicts, for the terminal."""
    honest = [o for o in outcomes if o.honest]
    attacks = [o for o in outcomes if not o.honest]
    lines = [
        *honest_table(honest),
        "",
        *attack_table(attacks),
        "",
        *verdict_table(verdicts(outcomes)),
    ]
    return "\n".join(lines)


def render_section(
    outcomes: Sequence[Outcome],
    by_lag: Mapping[float, Sequence[Outcome]],
    lag: float,
    info: Mapping[str, str],
    command: str,
) -> str:
    """The generated section of docs/detection.md."""
    honest = [o for o in outcomes if o.honest]
    attacks = [o for o in outcomes if not o.honest]
    found = verdicts(outcomes)
    missed = [v for v in found if not v.met]
    lines = [
        SECTION,
        "",
        f"Generated by `make bench-detection` (`{command}`); do not edit by hand, run it again. "
        "Scripted access streams go through `services.audit.detection.engine.handle` (its "
        "inbox, its PostgreSQL state, as `carnet_audit`) on simulated time, with booking and "
        "identity modelled around it (`scripts/bench/_detection_platform.py`): default quotas "
        "per principal kind, reach by grants, an access record for every answer; every attack "
        "world also holds an honest bystander (a partner of another vendor syncing the "
        "attacker's agendas every 5 minutes from its own address); a finding's "
        f"throttle (500/h, burst 50, for an hour) or suspension takes effect {lag:g} s after "
        "the event that tipped it (the containment lag), linked principals are throttled. "
        "Times are simulated, counted from the attack's start (honest: from the run's).",
        "",
        "| run | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in info.items()],
        "",
        "### Honest partners",
        "",
        *honest_table(honest),
        "",
        "### Attacks",
        "",
        *attack_table(attacks),
        "",
        "### Targets (issue #19, Done when)",
        "",
        *verdict_table(found),
        "",
        f"{len(found) - len(missed)} of {len(found)} met."
        + (
            " Missed: " + "; ".join(f"{v.key} ({v.detail})" for v in missed) + "." if missed else ""
        ),
        "",
        "### The containment lag",
        "",
        "Share of the reach taken before every attacker was suspended, by how long booking "
        "takes to enforce a finding. On a quiet system a suspension reaches booking's cache "
        "0.1 s after detection commits (docs/identity.md); a saturated system is slower (at 70 "
        "bookings/s offered the e2e bench's scrapers were not cut off within its 60 s window: "
        "docs/benchmarks.md); ADR 0014 promises a second. Until the finding reaches booking a "
        f"credential reads at most its quota's burst ({QUOTAS['connector'][1]:,} for a "
        "connector), what its hourly rate refills meanwhile and one page more: that, not the "
        "lag, is what the burst scrapers take.",
        "",
        *lag_table(by_lag),
        "",
        "### What quotas bound",
        "",
        f"Every rule silent, a connector's default quota lets it take "
        f"{quota_per_day('connector'):,} appointments a day ({QUOTAS['connector'][0]:,} an hour, "
        f"{QUOTAS['connector'][1]:,} at once), a "
        f"practitioner's or staff member's {quota_per_day('staff'):,}, a patient's "
        f"{quota_per_day('patient'):,}; throttled, {THROTTLED_PER_DAY:,}. {_under_rules()}",
    ]
    return "\n".join(lines) + "\n"
