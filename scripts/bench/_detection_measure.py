"""What a scenario's run established, from the platform's records: when each principal was
throttled and suspended (simulated time), what the attackers took before, false positives."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scripts.bench._detection_platform import Platform, Principal
from scripts.bench._detection_scenarios import Scenario, Setup


@dataclass
class Outcome:
    """One scenario's figures, as the table shows them."""

    key: str
    title: str
    honest: bool
    principals: int
    reach: int
    throttled_after: timedelta | None = None  # from the attack's start (honest: the run's)
    suspended_after: timedelta | None = None  # every attacker suspended, or an honest one
    taken_at_throttle: int = 0  # distinct appointments served to the attackers by then
    taken_at_suspension: int = 0
    refused_at_throttle: int = 0  # refused reads (403/404) by then: the prober's figure
    refused_at_suspension: int = 0
    first_review_after: timedelta | None = None
    taken_per_day: float = 0.0  # over the attack, until suspended (the slow scraper's figure)
    false_positives: int = 0  # honest principals (an attack's bystander) throttled or suspended
    reviews: int = 0  # review findings on honest principals
    findings: Counter = field(default_factory=Counter)  # "rule action" -> count
    cross_linked: int = 0  # findings on one of them naming another as linked
    events: int = 0
    seconds: float = 0.0
    simulated: timedelta = timedelta(0)
    handle_ms: list[float] = field(default_factory=list)  # engine.handle per event, wall time

    @property
    def share_at_throttle(self) -> float:
        """What was taken by the first throttle, as a share of the attackers' reach."""
        return self.taken_at_throttle / self.reach if self.reach else 0.0

    @property
    def share_at_suspension(self) -> float:
        """What was taken by the suspension (the end of the run if none), share of reach."""
        return self.taken_at_suspension / self.reach if self.reach else 0.0


def _taken(people: list[Principal], since: datetime, until: datetime) -> int:
    """Distinct appointments served to these principals in [since, until)."""
    ids: set = set()
    for p in people:
        for at, served in p.served:
            if since <= at < until:
                ids.update(served)
    return len(ids)


def _refused(people: list[Principal], since: datetime, until: datetime) -> int:
    """Refused reads (403, 404) in [since, until)."""
    return sum(
        1 for p in people for at, code in p.refusals
        if since <= at < until and code in ("reach", "not_found")
    )  # fmt: skip


def _reach(setup: Setup, pf: Platform, start: datetime) -> int:
    """Honest: what each may read; attackers: the union of their agendas within the horizon
    when the attack starts (a patient: its own appointments)."""
    if not setup.attackers:
        return sum(p.reach for p in setup.honest)
    agendas = set().union(*(p.agendas for p in setup.attackers))
    own = sum(1 for p in setup.attackers if p.own is not None)
    return len(pf.world.in_horizon(agendas, start)) + own


def measure(scenario: Scenario, setup: Setup, pf: Platform, events: int, seconds: float) -> Outcome:
    """The scenario's outcome: for attacks what was taken before containment, for honest
    partners whether anything was done to them."""
    start = setup.attack_start or min(at for at, _ in setup.actors)
    people = setup.attackers or setup.honest
    ids = {p.id for p in people}
    measures = [m for m in pf.measures if m.principal in ids]
    throttles = [m.at for m in measures if m.action == "throttle"]
    suspensions = {m.principal: m.at for m in reversed(measures) if m.action == "suspend"}
    first_throttle = min([*throttles, *suspensions.values()], default=None)
    contained = max(suspensions.values()) if len(suspensions) == len(ids) else None
    honest_ids = {p.id for p in setup.honest}
    reviews = [
        (at, d) for at, d in pf.findings
        if d.principal_id in ids and d.finding.recommended_action == "review"
    ]  # fmt: skip
    out = Outcome(
        scenario.key,
        scenario.title,
        scenario.honest,
        len(people),
        _reach(setup, pf, start),
        events=events,
        seconds=seconds,
        simulated=setup.end - min(at for at, _ in setup.actors),
    )
    out.throttled_after = first_throttle - start if first_throttle else None
    if setup.attackers:
        out.suspended_after = contained - start if contained else None
    elif suspensions:
        out.suspended_after = min(suspensions.values()) - start
    end = contained or setup.end
    if setup.attackers:
        out.taken_at_throttle = _taken(people, start, first_throttle or end)
        out.taken_at_suspension = _taken(people, start, end)
        out.refused_at_throttle = _refused(people, start, first_throttle or end)
        out.refused_at_suspension = _refused(people, start, end)
        days = max((end - start) / timedelta(days=1), 1 / 24)
        out.taken_per_day = out.taken_at_suspension / days
    out.first_review_after = min((at for at, _ in reviews), default=None)
    if out.first_review_after is not None:
        out.first_review_after -= start
    out.false_positives = len({m.principal for m in pf.measures if m.principal in honest_ids})
    out.reviews = sum(
        1 for _, d in pf.findings
        if d.principal_id in honest_ids and d.finding.recommended_action == "review"
    )  # fmt: skip
    out.cross_linked = sum(
        1 for _, d in pf.findings if d.principal_id in ids and ids & set(d.linked)
    )
    out.findings = Counter(
        f"{d.finding.rule} {d.finding.recommended_action}" for _, d in pf.findings
        if d.principal_id in ids
    )  # fmt: skip
    return out
