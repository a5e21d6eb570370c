"""The detection bench's scenarios: honest partners that follow the sync contract, and attacks.

Each scenario builds its own world (agendas of ~330 appointments), registers its principals
through identity's events, and returns its actors; who is honest and who attacks, and when the
attack starts, is what the report measures against. Every attack world also holds an honest
bystander: a partner of another vendor syncing the same agendas (a practice running two
systems), so an attack's false positives are counted where they would happen. Honest scenarios
run a simulated week; `quick` (make test) runs the longer of them for two or three days
instead; nothing else changes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scripts.bench._detection_actors import (
    Actor,
    Changes,
    FrontDesk,
    Prober,
    Revoke,
    Scraper,
    SyncPartner,
    Trust,
)
from scripts.bench._detection_platform import Platform, Principal

T0 = datetime(2030, 3, 4, tzinfo=UTC)  # a Monday, midnight
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
OPENING = timedelta(hours=9)
# The observed scraper: 1,780 appointments in 3 s, i.e. a page of 100 every 170 ms.
ATTACK_PACE = timedelta(milliseconds=170)
CHANGES_PER_DAY = 10.0  # per agenda: bookings and reschedules


@dataclass
class Setup:
    """A built scenario: its actors (first step time, actor), who is who, how long it runs."""

    actors: list[tuple[datetime, Actor]]
    honest: list[Principal]
    attackers: list[Principal] = field(default_factory=list)
    attack_start: datetime | None = None
    end: datetime = T0 + 7 * DAY
    notes: str = ""


@dataclass(frozen=True)
class Scenario:
    """A named scenario and how to build it on a platform."""

    key: str
    title: str
    honest: bool
    build: Callable[[Platform, bool], Setup]


def _address(pf: Platform, n: int, block: int = 0) -> str:
    """An address of the scenario's own private network (10.<scenario>.<block>.<n>): scenarios
    share a database and a calendar, and must not look linked to each other."""
    return f"10.{pf.net}.{block}.{n % 250 + 1}"


def _partner(pf: Platform, agendas: int, tag: str, at: datetime) -> Principal:
    """A connector of its own vendor, granted `agendas` new agendas, at its own address."""
    n = len(pf.principals) + 1
    ids = pf.world.agendas(agendas)
    return pf.connector(ids, at, _address(pf, n), f"bench-{tag}/1.0", f"bench vendor {tag}")


def _changes(
    pf: Platform, p: Principal, per_day: float = CHANGES_PER_DAY
) -> tuple[datetime, Actor]:
    return T0, Changes(
        sorted(p.agendas), per_day * len(p.agendas), random.Random(len(pf.principals))
    )


def first_sync(agendas: int) -> Callable[[Platform, bool], Setup]:
    """A new partner's first full sync of its agendas, then hourly deltas for the week."""

    def build(pf: Platform, quick: bool) -> Setup:
        p = _partner(pf, agendas, f"first{agendas}", T0)
        actors = [(T0 + OPENING, SyncPartner(p, HOUR)), _changes(pf, p)]
        return Setup(actors, [p], end=T0 + (2 if quick else 7) * DAY)

    return build


def deltas(every: timedelta) -> Callable[[Platform, bool], Setup]:
    """A partner of 5 agendas syncing by delta every `every` for a week."""

    def build(pf: Platform, quick: bool) -> Setup:
        p = _partner(pf, 5, f"every{int(every.total_seconds())}", T0)
        days = 2 if quick and every < HOUR else 7  # quick: the minute syncer's first two days
        return Setup(
            [(T0 + OPENING, SyncPartner(p, every)), _changes(pf, p)], [p], end=T0 + days * DAY
        )

    return build


def busy_clinic(pf: Platform, quick: bool) -> Setup:
    """3 agendas with 60 changes a day each, deltas every 5 minutes, a front desk re-reading
    today's appointments every 10 minutes all day."""
    p = _partner(pf, 3, "clinic", T0)
    actors = [(T0 + OPENING, SyncPartner(p, timedelta(minutes=5))), _changes(pf, p, 60.0),
              (T0 + OPENING, FrontDesk(p))]  # fmt: skip
    return Setup(actors, [p], end=T0 + (2 if quick else 7) * DAY)


def outage(pf: Platform, quick: bool) -> Setup:
    """Hourly deltas, then the partner's own 6-hour outage, then one delta since its last sync."""
    p = _partner(pf, 5, "outage", T0)
    down = (T0 + 3 * DAY + 2 * HOUR, T0 + 3 * DAY + 8 * HOUR)
    return Setup([(T0 + OPENING, SyncPartner(p, HOUR, outage=down)), _changes(pf, p)], [p])


def revoked_mid_sync(pf: Platform, quick: bool) -> Setup:
    """A partner syncing every minute loses one agenda's grant, and keeps asking for it (403)
    for two hours before it notices."""
    p = _partner(pf, 5, "revoked", T0)
    lost = sorted(p.agendas)[0]
    revoke_at = T0 + DAY + 10 * HOUR + timedelta(seconds=30)
    sync = SyncPartner(p, timedelta(minutes=1), lost_agenda=lost, lost_until=revoke_at + 2 * HOUR)
    actors = [(T0 + OPENING, sync), _changes(pf, p), (revoke_at, Revoke(p, lost))]
    return Setup(actors, [p], end=T0 + (2 if quick else 7) * DAY)


def migration(pf: Platform, quick: bool) -> Setup:
    """A partner moving to new servers: trusted for 12 hours, it re-reads everything (a full
    sync) from its new address, then goes back to deltas."""
    p = _partner(pf, 5, "migration", T0)
    move = T0 + 2 * DAY + 10 * HOUR
    sync = SyncPartner(
        p, HOUR, resync_at=move + timedelta(minutes=5), resync_address=_address(pf, 77, 1)
    )
    actors = [(T0 + OPENING, sync), _changes(pf, p), (move, Trust(p, move + 12 * HOUR))]
    return Setup(actors, [p])


def _established(pf: Platform, agendas: int, tag: str, address: str | None = None,
                 share_with: Principal | None = None) -> Principal:  # fmt: skip
    """A connector that made its first sync on day 0 (pages at 0.5 s) and syncs hourly."""
    if share_with is None:
        p = _partner(pf, agendas, tag, T0)
    else:  # the same agendas, address and client as another connector of the attacker's
        p = pf.connector(sorted(share_with.agendas), T0, share_with.address,
                         share_with.agent or "", f"bench vendor {tag}")  # fmt: skip
    if address:
        p.address = address
    return p


def _bystander(
    pf: Platform, agendas: set, quick: bool
) -> tuple[Principal, list[tuple[datetime, Actor]]]:
    """An honest partner of another vendor, at its own address, granted (up to 5 of) the same
    agendas as the attacker: it syncs by delta every 5 minutes through the attack (quick:
    every 15, a third of the events in `make test`)."""
    ids = sorted(agendas)[:5]
    n = len(pf.principals) + 1
    p = pf.connector(ids, T0, _address(pf, n, 3), "bench-bystander/2.1", "bench vendor bystander")
    return p, [(T0 + OPENING, SyncPartner(p, timedelta(minutes=15 if quick else 5)))]


def _attack(actors: list[tuple[datetime, Actor]], attackers: list[Principal], start: datetime,
            pf: Platform, end: datetime, quick: bool) -> Setup:  # fmt: skip
    """An attack's setup, with the honest bystander on the attacker's agendas."""
    by, by_actors = _bystander(pf, set().union(*(a.agendas for a in attackers)), quick)
    return Setup(actors + by_actors, [by], attackers, start, end)


def burst_within_grants(pf: Platform, quick: bool) -> Setup:
    """An established connector of 40 agendas re-reads its whole reach at the issue's pace."""
    p = _established(pf, 40, "burst")
    attack = T0 + DAY + 10 * HOUR
    reach = pf.world.in_horizon(p.agendas, attack)
    actors = [(T0 + OPENING, SyncPartner(p, HOUR)), _changes(pf, p),
              (attack, Scraper(p, reach, ATTACK_PACE))]  # fmt: skip
    return _attack(actors, [p], attack, pf, T0 + 2 * DAY, quick)


def slow_scraper(pf: Platform, quick: bool) -> Setup:
    """An established connector of 5 agendas re-reads 45 unchanged appointments an hour (a
    page of 15 every 20 minutes, under D1's floor of 50), day and night."""
    p = _established(pf, 5, "slow")
    attack = T0 + DAY
    reach = pf.world.in_horizon(p.agendas, attack)
    scraper = Scraper(p, reach * 20, timedelta(minutes=20), page=15)
    actors = [(T0 + OPENING, SyncPartner(p, HOUR)), _changes(pf, p), (attack, scraper)]
    return _attack(actors, [p], attack, pf, T0 + (3 if quick else 7) * DAY, quick)


def warmup_burst(pf: Platform, quick: bool) -> Setup:
    """A new connector of 40 agendas syncs slowly for an hour (a page every 30 s: what a
    learned baseline would call normal), stays quiet on deltas, then bursts 10 minutes later."""
    p = _partner(pf, 40, "warmup", T0)
    start = T0 + DAY + 9 * HOUR
    attack = start + timedelta(minutes=80)
    reach = pf.world.in_horizon(p.agendas, attack)
    sync = SyncPartner(p, timedelta(minutes=10), pace=timedelta(seconds=30))
    actors = [(start, sync), _changes(pf, p), (attack, Scraper(p, reach, ATTACK_PACE))]
    return _attack(actors, [p], attack, pf, T0 + 2 * DAY, quick)


def two_connectors(pf: Platform, quick: bool) -> Setup:
    """Two connectors of one attacker (same 40 agendas, address and client), each re-reading
    half the reach at the issue's pace."""
    a = _established(pf, 40, "pair")
    b = _established(pf, 40, "pair-b", share_with=a)
    attack = T0 + DAY + 10 * HOUR
    reach = pf.world.in_horizon(a.agendas, attack)
    half = len(reach) // 2
    actors = [(T0 + OPENING, SyncPartner(a, HOUR)), (T0 + OPENING, SyncPartner(b, HOUR)),
              _changes(pf, a), (attack, Scraper(a, reach[:half], ATTACK_PACE)),
              (attack, Scraper(b, reach[half:], ATTACK_PACE))]  # fmt: skip
    return _attack(actors, [a, b], attack, pf, T0 + 2 * DAY, quick)


def probing_scraper(pf: Platform, quick: bool) -> Setup:
    """An established connector of 40 agendas re-reads its reach and, every 5th request, asks
    for an appointment of an agenda it holds no grant for (403)."""
    p = _established(pf, 40, "prober")
    others = pf.world.in_horizon(pf.world.agendas(2), T0)
    attack = T0 + DAY + 10 * HOUR
    reach = pf.world.in_horizon(p.agendas, attack)
    scraper = Scraper(p, reach, ATTACK_PACE, probes=others, probe_every=5)
    actors = [(T0 + OPENING, SyncPartner(p, HOUR)), _changes(pf, p), (attack, scraper)]
    return _attack(actors, [p], attack, pf, T0 + 2 * DAY, quick)


def rotating_addresses(pf: Platform, quick: bool) -> Setup:
    """An established connector of 40 agendas re-reads its reach, each request from another
    address (the stolen credentials behind a proxy pool)."""
    p = _established(pf, 40, "rotating")
    attack = T0 + DAY + 10 * HOUR
    reach = pf.world.in_horizon(p.agendas, attack)
    pool = [_address(pf, i, 2) for i in range(200)]
    actors = [(T0 + OPENING, SyncPartner(p, HOUR)), _changes(pf, p),
              (attack, Scraper(p, reach, ATTACK_PACE, addresses=pool))]  # fmt: skip
    return _attack(actors, [p], attack, pf, T0 + 2 * DAY, quick)


def patient_prober(pf: Platform, quick: bool) -> Setup:
    """A patient account created for the occasion enumerates appointment ids, 3 a second:
    every 4th a real appointment of someone else (403), the others random (404)."""
    agendas = pf.world.agendas(5)
    attack = T0 + DAY + 10 * HOUR
    p = pf.patient(
        agendas[0], attack - timedelta(minutes=5), _address(pf, 9, 1), "Mozilla/5.0 bench"
    )
    others = [a for a in pf.world.in_horizon(agendas, attack) if a.patient_id != p.id]
    prober = Prober(p, others, timedelta(milliseconds=300), attempts=2_000)
    by, by_actors = _bystander(pf, set(agendas), quick)
    return Setup([(attack, prober), *by_actors], [by], [p], attack, T0 + 2 * DAY)


SCENARIOS = (
    Scenario("first_sync_1", "first full sync, 1 agenda, then hourly deltas", True, first_sync(1)),
    Scenario("first_sync_5", "first full sync, 5 agendas, then hourly deltas", True, first_sync(5)),
    Scenario("first_sync_40", "first full sync, 40 agendas, then hourly deltas", True,
             first_sync(40)),
    Scenario("hourly_week", "hourly delta syncs for a week (5 agendas)", True, deltas(HOUR)),
    Scenario("minute_week", "delta syncs every minute for a week (5 agendas)", True,
             deltas(timedelta(minutes=1))),
    Scenario("busy_clinic", "busy clinic: 60 changes a day per agenda, a front desk re-reading "
             "today's appointments", True, busy_clinic),
    Scenario("outage", "re-sync by delta after its own 6-hour outage", True, outage),
    Scenario("revoked_mid_sync", "a grant revoked mid-sync, asked for 2 more hours (403s)", True,
             revoked_mid_sync),
    Scenario("migration", "planned migration marked trusted: a full re-read from a new address",
             True, migration),
    Scenario("burst", "burst scraper within grants (established, 40 agendas)", False,
             burst_within_grants),
    Scenario("slow", "slow scraper under every hourly threshold (5 agendas)", False,
             slow_scraper),
    Scenario("warmup", "warm-up then burst (new connector, 40 agendas)", False, warmup_burst),
    Scenario("two_connectors", "two connectors from one address (same 40 agendas)", False,
             two_connectors),
    Scenario("probing", "scraper that also probes outside its grants (40 agendas)", False,
             probing_scraper),
    Scenario("rotating", "scraper rotating its address on every request (40 agendas)", False,
             rotating_addresses),
    Scenario("patient_prober", "fresh patient account enumerating appointment ids", False,
             patient_prober),
)  # fmt: skip
