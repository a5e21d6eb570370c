"""Booking and identity as the bench models them around the real detection engine.

Booking: reach by grants (a patient its own appointments), a token bucket per principal with
the default quotas of #19 (and per address for refused tokens), an access record for every
answer (served, 403 with targets, 404, 401, 429). Identity: on a finding, after the
containment lag, a throttle (quota 500/h, burst 50, for an hour) for the principal and its
linked principals, or a suspension (no more reads: 401) of the principal, its linked ones
throttled. Review findings and findings on an address change nothing.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from scripts.bench._detection_events import Appt, BenchEvent, Events
from scripts.bench._detection_world import World
from services.booking.quota import quotas_from_config
from services.common.config import shipped_defaults
from services.identity.settings import settings_from_config

# The shipped defaults, read from booking's and identity's config.yaml (never copied here).
_LIMITS = quotas_from_config(shipped_defaults("booking", "BOOKING_QUOTA_")).limits
QUOTAS = {k: (v.per_hour, v.burst) for k, v in _LIMITS.items() if k != "unauthenticated"}
ADDRESS_QUOTA = (_LIMITS["unauthenticated"].per_hour, _LIMITS["unauthenticated"].burst)
_IDENTITY = settings_from_config(shipped_defaults("identity", "IDENTITY_"))
THROTTLE = (_IDENTITY.throttle_per_hour, _IDENTITY.throttle_burst)
THROTTLE_FOR = timedelta(seconds=_IDENTITY.throttle_s)
REFUSAL_COST = 1  # the bench's assumption: a refused read costs one token (no data served)


@dataclass
class Bucket:
    """A token bucket: `burst` at most, refilled at per_hour / 3600 a second."""

    per_hour: int
    burst: int
    tokens: float
    at: datetime

    def refill(self, now: datetime) -> None:
        """Tokens accrued since the last look."""
        elapsed = max((now - self.at).total_seconds(), 0.0)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.per_hour / 3600)
        self.at = max(now, self.at)

    def wait(self, now: datetime) -> float:
        """Seconds until a request may be served (0: now)."""
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) * 3600 / self.per_hour


@dataclass
class Principal:
    """A credential holder as booking and identity see it."""

    id: UUID
    kind: str
    agendas: set[UUID]
    address: str
    agent: str | None
    reach: int = 0
    own: Appt | None = None  # a patient's own appointment
    suspended: bool = False
    throttled_until: datetime | None = None
    bucket: Bucket | None = None
    served: list[tuple[datetime, tuple[UUID, ...]]] = field(default_factory=list)
    refusals: list[tuple[datetime, str]] = field(default_factory=list)  # (at, denial code)


@dataclass(frozen=True)
class Response:
    """What the client got."""

    status: int
    served: tuple[Appt, ...] = ()
    retry_after: float = 0.0


@dataclass(frozen=True)
class Measure:
    """A containment measure identity took, from a finding."""

    at: datetime  # effective (finding time + lag)
    found_at: datetime
    principal: UUID
    action: str  # throttle | suspend
    rule: str
    linked: bool  # taken because the principal is linked to the finding's subject


@dataclass
class Platform:
    """The modelled booking and identity; `feed` hands each event to detection."""

    world: World
    events: Events
    feed: Callable[[BenchEvent], list[Any]]
    lag: timedelta
    net: int = 0  # the scenario's own 10.<net>.0.0/16: no links between scenarios
    principals: dict[UUID, Principal] = field(default_factory=dict)
    address_buckets: dict[str, Bucket] = field(default_factory=dict)
    pending: list[tuple[datetime, int, Measure]] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    findings: list[tuple[datetime, Any]] = field(default_factory=list)
    _seq: int = 0

    # -- identity's side: registrations, grants, trust, containment --------------------------
    def connector(self, agendas: Sequence[UUID], at: datetime, address: str, agent: str,
                  vendor: str) -> Principal:  # fmt: skip
        """A connector registered and granted these agendas at `at`."""
        p = Principal(uuid.uuid4(), "connector", set(agendas), address, agent)
        self.principals[p.id] = p
        self.emit(self.events.registered(p.id, vendor, at))
        for agenda in agendas:
            self.emit(self.events.granted(p.id, agenda, at))
        p.reach = self.world.reach(agendas, at)
        return p

    def patient(self, agenda: UUID, at: datetime, address: str, agent: str) -> Principal:
        """A patient account with one appointment of its own."""
        p = Principal(uuid.uuid4(), "patient", set(), address, agent)
        own = Appt(uuid.uuid4(), agenda, p.id, at + timedelta(days=3))
        self.world._put(own, at)
        self.emit(self.events.booked(own, at))
        p.own, p.reach = own, 1
        self.principals[p.id] = p
        return p

    def revoke(self, p: Principal, agenda: UUID, at: datetime) -> None:
        """The practitioner revokes the connector's grant."""
        p.agendas.discard(agenda)
        self.emit(self.events.revoked(p.id, agenda, at))

    def trust(self, p: Principal, until: datetime, at: datetime) -> None:
        """An operator marks the principal trusted (a planned migration)."""
        self.emit(self.events.trusted(p.id, p.kind, until, at))

    def emit(self, event: BenchEvent) -> None:
        """Hand the event to detection; a finding becomes a measure after the lag."""
        at = datetime.fromisoformat(event.occurred_at)
        for d in self.feed(event):
            self.findings.append((at, d))
            self._contain(d, at)

    def _contain(self, d: Any, at: datetime) -> None:
        """Identity's policy on a finding, effective `lag` later."""
        action = d.finding.recommended_action
        if action == "review" or d.principal_id is None:
            return
        self._queue(Measure(at + self.lag, at, d.principal_id, action, d.finding.rule, False))
        for linked in d.linked:
            self._queue(Measure(at + self.lag, at, linked, "throttle", d.finding.rule, True))

    def _queue(self, m: Measure) -> None:
        self._seq += 1
        heapq.heappush(self.pending, (m.at, self._seq, m))

    def settle(self, now: datetime) -> None:
        """Apply the measures due by `now` (booking sees them within the lag)."""
        while self.pending and self.pending[0][0] <= now:
            _, _, m = heapq.heappop(self.pending)
            p = self.principals.get(m.principal)
            if p is None:
                continue
            self.measures.append(m)
            if m.action == "suspend":
                p.suspended = True
            else:
                # A throttle never raises a quota: a patient's default (300/h) is below it.
                p.throttled_until = m.at + THROTTLE_FOR
                bucket = self._bucket(p, m.at)
                per_hour, burst = QUOTAS[p.kind]
                bucket.per_hour, bucket.burst = min(per_hour, THROTTLE[0]), min(burst, THROTTLE[1])
                bucket.tokens = min(bucket.tokens, bucket.burst)

    # -- booking's side: quotas, reach, access records ---------------------------------------
    def _bucket(self, p: Principal, now: datetime) -> Bucket:
        """The principal's bucket, back to its default once a throttle expires."""
        per_hour, burst = QUOTAS[p.kind]
        if p.bucket is None:
            p.bucket = Bucket(per_hour, burst, float(burst), now)
        if p.throttled_until is not None and now >= p.throttled_until:
            p.throttled_until = None
            p.bucket.refill(now)
            p.bucket.per_hour, p.bucket.burst = per_hour, burst
        return p.bucket

    def search(self, p: Principal, at: datetime, page: Sequence[Appt], query: str,
               address: str | None = None) -> Response:  # fmt: skip
        """A search whose answer is `page` (the caller computed it from the world)."""
        return self._answer(p, at, address or p.address, query, served=tuple(page))

    def search_outside(self, p: Principal, at: datetime, agenda: UUID) -> Response:
        """A search naming an agenda the principal holds no grant for: refused (403)."""
        query = f"GET /fhir/Appointment?practitioner={agenda}&_count=100"
        if agenda in p.agendas:
            return self.search(p, at, self.world.in_horizon([agenda], at)[:100], query)
        return self._answer(p, at, p.address, query, denial="reach")

    def read(self, p: Principal, at: datetime, appointment_id: UUID, address: str | None = None
             ) -> Response:  # fmt: skip
        """GET /fhir/Appointment/{id}: served in reach, 403 with its target, 404 if none."""
        a = self.world.appts.get(appointment_id)
        query = f"GET /fhir/Appointment/{appointment_id}"
        if a is None:
            return self._answer(p, at, address or p.address, query, denial="not_found")
        mine = a.practitioner_id in p.agendas or (p.own is not None and a.patient_id == p.id)
        if not mine:
            return self._answer(p, at, address or p.address, query, denial="reach", targets=(a,))
        return self._answer(p, at, address or p.address, query, served=(a,))

    def _answer(self, p: Principal, at: datetime, address: str, query: str,
                served: tuple[Appt, ...] = (), denial: str | None = None,
                targets: tuple[Appt, ...] = ()) -> Response:  # fmt: skip
        """Quota first, then the answer; every answer is an access record."""
        self.settle(at)
        if p.suspended:
            self._record(p, at, address, (), "unauthenticated", (), query)
            return Response(401)
        bucket = self._bucket(p, at)
        wait = bucket.wait(at)
        if wait > 0:
            self._record(p, at, address, (), "quota", (), query)
            return Response(429, retry_after=wait)
        self._record(p, at, address, served, denial, targets, query)
        bucket.tokens -= len(served) if denial is None else REFUSAL_COST
        if denial is not None:
            return Response(403 if denial == "reach" else 404)
        return Response(200, served)

    def refused_token(self, at: datetime, address: str, fingerprint: str) -> Response:
        """A request with a token identity does not know (401), or over the address quota."""
        self.settle(at)
        per_hour, burst = ADDRESS_QUOTA
        bucket = self.address_buckets.setdefault(address, Bucket(per_hour, burst, burst, at))
        wait = bucket.wait(at)
        denial = "quota" if wait > 0 else "unauthenticated"
        if wait == 0:
            bucket.tokens -= 1
        self.emit(self.events.accessed(None, "unknown", at, address, None, denial=denial,
                                       fingerprint=fingerprint))  # fmt: skip
        return Response(429 if wait > 0 else 401, retry_after=wait)

    def _record(self, p: Principal, at: datetime, address: str, served: tuple[Appt, ...],
                denial: str | None, targets: tuple[Appt, ...], query: str) -> None:  # fmt: skip
        """The access record booking commits before answering."""
        if denial is None:
            p.served.append((at, tuple(a.appointment_id for a in served)))
        else:
            p.refusals.append((at, denial))
        self.emit(self.events.accessed(p.id, p.kind, at, address, p.agent, served=served,
                                       denial=denial, targets=targets, query=query))  # fmt: skip

    def change(self, agenda: UUID, at: datetime) -> None:
        """Booking changes an appointment of the agenda (its event reaches detection)."""
        what, appt, previous = self.world.change(agenda, at)
        if what == "booked":
            self.emit(self.events.booked(appt, at))
        else:
            assert previous is not None
            self.emit(self.events.rescheduled(appt, previous, at))
