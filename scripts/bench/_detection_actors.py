"""Who acts in the detection bench: partners that follow the sync contract, a front desk, the
changes booking makes, and the attackers. Each actor takes one step (one request) at a time
and says when it acts next; a 429 makes it wait Retry-After, a 401 (suspended) stops it.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from scripts.bench._detection_events import Appt
from scripts.bench._detection_platform import Platform, Principal, Response
from scripts.bench._detection_world import HORIZON

PAGE = 100  # booking's largest page
SECOND = timedelta(seconds=1)


class Actor(Protocol):
    """One step at `now`; the time of the next step, or None when done."""

    def step(self, pf: Platform, now: datetime) -> datetime | None: ...


def _after(r: Response, now: datetime, pace: timedelta) -> datetime | None:
    """Wait out a 429, stop on a 401, else go on at the actor's pace."""
    if r.status == 401:
        return None
    if r.status == 429:
        return now + timedelta(seconds=max(r.retry_after, 0.05))
    return now + pace


@dataclass
class SyncPartner:
    """Follows the sync contract: a first sync of its agendas (pages of 100), then deltas
    (`_lastUpdated=gt` its last sync minus an overlap) every `every`."""

    p: Principal
    every: timedelta
    overlap: timedelta = timedelta(minutes=2)
    pace: timedelta = timedelta(milliseconds=500)
    first_sync: bool = True
    outage: tuple[datetime, datetime] | None = None  # its own outage: no syncs then
    resync_at: datetime | None = None  # a full re-read then (a migration)
    resync_address: str | None = None
    lost_agenda: UUID | None = None  # still asked after its grant was revoked ...
    lost_until: datetime | None = None  # ... until the partner notices
    pages: list[Sequence[Appt]] | None = None
    query: str = ""
    started: datetime | None = None
    last_sync: datetime | None = None

    def step(self, pf: Platform, now: datetime) -> datetime | None:
        """One page of the current sync, or the start of the next."""
        if self.pages is None:
            self._begin(pf, now)
        assert self.pages is not None
        address = self.resync_address if self.resync_at and now >= self.resync_at else None
        r = pf.search(self.p, now, self.pages[0], self.query, address)
        if r.status in (401, 429):
            return _after(r, now, self.pace)
        self.pages.pop(0)
        if self.pages:
            return now + self.pace
        lost = self.lost_agenda
        if lost and lost not in self.p.agendas and self.lost_until and now < self.lost_until:
            pf.search_outside(self.p, now, lost)  # it has not noticed the revocation yet
        self.pages, self.last_sync = None, self.started
        return self._next(now)

    def _begin(self, pf: Platform, now: datetime) -> None:
        """A first (or full) sync over the horizon, else a delta since the last sync."""
        full = self.last_sync is None and self.first_sync
        if self.resync_at is not None and self.last_sync is not None:
            full = full or (self.last_sync < self.resync_at <= now)
        if full or self.last_sync is None:
            items = pf.world.in_horizon(self.p.agendas, now)
            self.query = f"GET /fhir/Appointment?date=ge{(now - HORIZON).date()}&_count={PAGE}"
        else:
            since = self.last_sync - self.overlap
            items = pf.world.changed_since(sorted(self.p.agendas), since, now)
            self.query = f"GET /fhir/Appointment?_lastUpdated=gt{since.isoformat()}&_count={PAGE}"
        self.pages = [items[i : i + PAGE] for i in range(0, len(items), PAGE)] or [[]]
        self.started = now

    def _next(self, now: datetime) -> datetime:
        """The next sync, after the partner's own outage if it falls in one."""
        at = now + self.every
        if self.outage and self.outage[0] <= at < self.outage[1]:
            at = self.outage[1]
        if self.resync_at and now < self.resync_at < at:
            at = self.resync_at
        return at


@dataclass
class FrontDesk:
    """A busy clinic's desk: today's appointments again every 10 minutes, 8:00 to 19:00."""

    p: Principal
    every: timedelta = timedelta(minutes=10)

    def step(self, pf: Platform, now: datetime) -> datetime | None:
        """Re-read today's appointments (the same few, all day)."""
        if 8 <= now.hour < 19:
            today = pf.world.today(self.p.agendas, now)
            r = pf.search(self.p, now, today, f"GET /fhir/Appointment?date=eq{now.date()}")
            if r.status == 401:
                return None
        return now + self.every


@dataclass
class Changes:
    """Booking's changes on some agendas: a reschedule or a booking, `per_day` on average."""

    agendas: Sequence[UUID]
    per_day: float
    rng: random.Random

    def step(self, pf: Platform, now: datetime) -> datetime | None:
        """One change, then the next after an exponential wait."""
        pf.change(self.rng.choice(list(self.agendas)), now)
        return now + timedelta(days=self.rng.expovariate(self.per_day))


@dataclass
class Scraper:
    """Re-reads `targets` in pages at `pace` (optionally from rotating addresses, probing an
    id outside its grants every `probe_every` requests) until done or suspended."""

    p: Principal
    targets: Sequence[Appt]
    pace: timedelta
    page: int = PAGE
    addresses: Sequence[str] = ()
    probes: Sequence[Appt] = ()
    probe_every: int = 0
    position: int = 0
    requests: int = 0

    def step(self, pf: Platform, now: datetime) -> datetime | None:
        """One page (or one probe)."""
        self.requests += 1
        address = self.addresses[self.requests % len(self.addresses)] if self.addresses else None
        if self.probes and self.probe_every and self.requests % self.probe_every == 0:
            probe = self.probes[(self.requests // self.probe_every) % len(self.probes)]
            return _after(pf.read(self.p, now, probe.appointment_id, address), now, self.pace)
        chunk = self.targets[self.position : self.position + self.page]
        query = f"GET /fhir/Appointment?date=ge2000-01-01&_count={PAGE}&_cursor={self.position}"
        r = pf.search(self.p, now, chunk, query, address)
        if r.status == 200:
            self.position += self.page
            if self.position >= len(self.targets):
                return None  # it has re-read everything it could reach
        return _after(r, now, self.pace)


@dataclass
class Prober:
    """A fresh patient account enumerating appointment ids: every `real_every`-th a real one
    of someone else (403 with its target), the others random (404)."""

    p: Principal
    others: Sequence[Appt]
    pace: timedelta
    attempts: int
    real_every: int = 4
    done: int = 0

    def step(self, pf: Platform, now: datetime) -> datetime | None:
        """One id."""
        self.done += 1
        if self.done > self.attempts:
            return None
        if self.done % self.real_every == 0:
            target = self.others[(self.done // self.real_every) % len(self.others)].appointment_id
        else:
            target = uuid.uuid4()
        return _after(pf.read(self.p, now, target), now, self.pace)


@dataclass
class Revoke:
    """The practitioner revokes the grant (once)."""

    p: Principal
    agenda: object

    def step(self, pf: Platform, now: datetime) -> datetime | None:
        pf.revoke(self.p, self.agenda, now)  # type: ignore[arg-type]
        return None


@dataclass
class Trust:
    """An operator marks the principal trusted until `until` (once)."""

    p: Principal
    until: datetime

    def step(self, pf: Platform, now: datetime) -> datetime | None:
        pf.trust(self.p, self.until, now)
        return None


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    actor: Actor = field(compare=False)


def simulate(pf: Platform, actors: Sequence[tuple[datetime, Actor]], end: datetime) -> None:
    """Every actor in time order until `end` (simulated time: no sleeping)."""
    heap = [_Due(at, i, a) for i, (at, a) in enumerate(actors)]
    heapq.heapify(heap)
    seq = len(heap)
    while heap and heap[0].at <= end:
        due = heapq.heappop(heap)
        nxt = due.actor.step(pf, due.at)
        if nxt is not None and nxt <= end:
            seq += 1
            heapq.heappush(heap, _Due(max(nxt, due.at + timedelta(microseconds=1)), seq, due.actor))
    pf.settle(end)
