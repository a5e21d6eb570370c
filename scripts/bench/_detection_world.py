"""The detection bench's synthetic world: agendas of ~330 appointments within the sync horizon,
and the changes booking makes to them over simulated time (bookings and reschedules).

Appointments start between 30 days before the scenario and 30 days after it, 5.5 a day per
agenda; each was booked up to 3 weeks before it starts. A change is a reschedule (the start
moves) or a new booking; either moves the appointment's lastUpdated, which a delta sync reads.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from scripts.bench._detection_events import Appt

HORIZON = timedelta(days=30)
PER_AGENDA = 330  # appointments within the horizon (30 days back, 30 ahead)


@dataclass
class World:
    """Appointments by id, per agenda, and when each last changed (in time order)."""

    rng: random.Random
    t0: datetime
    appts: dict[UUID, Appt] = field(default_factory=dict)
    by_agenda: dict[UUID, list[UUID]] = field(default_factory=dict)
    updated: dict[UUID, datetime] = field(default_factory=dict)
    log: list[tuple[datetime, UUID]] = field(default_factory=list)  # (lastUpdated, id), sorted

    def new_id(self) -> UUID:
        """A synthetic id drawn from the world's seed: the same world every run."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def agenda(self, n: int = PER_AGENDA) -> UUID:
        """A new practitioner's agenda with n appointments around t0 (none booked after t0)."""
        practitioner = self.new_id()
        self.by_agenda[practitioner] = []
        span = 2 * HORIZON.total_seconds()
        for _ in range(n):
            start = self.t0 - HORIZON + timedelta(seconds=self.rng.uniform(0, span))
            start = start.replace(second=0, microsecond=0)
            booked = min(start - timedelta(days=self.rng.uniform(0.5, 21)), self.t0)
            self._put(Appt(self.new_id(), practitioner, self.new_id(), start), booked)
        return practitioner

    def agendas(self, n: int) -> list[UUID]:
        """n new agendas."""
        return [self.agenda() for _ in range(n)]

    def _put(self, a: Appt, at: datetime) -> None:
        """Store or replace the appointment; it changed at `at`."""
        self.appts[a.appointment_id] = a
        if a.appointment_id not in self.updated:
            self.by_agenda[a.practitioner_id].append(a.appointment_id)
        self.updated[a.appointment_id] = at
        bisect.insort(self.log, (at, a.appointment_id))

    def change(self, practitioner: UUID, at: datetime) -> tuple[str, Appt, datetime | None]:
        """One change on the agenda at `at`: a reschedule (2 in 3) or a new booking."""
        future = [
            i for i in self.by_agenda[practitioner][-400:] if self.appts[i].start > at
        ] or self.by_agenda[practitioner]
        if self.rng.random() < 2 / 3:
            old = self.appts[self.rng.choice(future)]
            shift = timedelta(days=self.rng.choice((-2, -1, 1, 2, 7)))
            moved = Appt(old.appointment_id, practitioner, old.patient_id, old.start + shift)
            self._put(moved, at)
            return "rescheduled", moved, old.start
        start = (at + timedelta(days=self.rng.uniform(1, 30))).replace(second=0, microsecond=0)
        new = Appt(self.new_id(), practitioner, self.new_id(), start)
        self._put(new, at)
        return "booked", new, None

    def in_horizon(self, agendas: Iterable[UUID], at: datetime) -> list[Appt]:
        """What a first sync reads: the agendas' appointments starting from the horizon on."""
        since = at - HORIZON
        out = []
        for p in agendas:
            out += sorted(
                (self.appts[i] for i in self.by_agenda[p] if self.appts[i].start >= since),
                key=lambda a: (a.start, a.appointment_id),
            )
        return out

    def changed_since(
        self, agendas: Sequence[UUID], since: datetime, until: datetime
    ) -> list[Appt]:
        """What a delta sync reads: the agendas' appointments updated in (since, until]."""
        wanted = set(agendas)
        lo = bisect.bisect_right(self.log, (since, UUID(int=2**128 - 1)))
        hi = bisect.bisect_right(self.log, (until, UUID(int=2**128 - 1)))
        seen: dict[UUID, Appt] = {}
        for at, i in self.log[lo:hi]:
            a = self.appts[i]
            if a.practitioner_id in wanted and self.updated[i] == at:
                seen[i] = a
        return list(seen.values())

    def today(self, agendas: Iterable[UUID], at: datetime) -> list[Appt]:
        """The agendas' appointments of the day of `at` (a front desk's view)."""
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return [
            self.appts[i]
            for p in agendas
            for i in self.by_agenda[p]
            if day <= self.appts[i].start < day + timedelta(days=1)
        ]

    def reach(self, agendas: Iterable[UUID], at: datetime) -> int:
        """How many appointments a principal granted these agendas may read (horizon on)."""
        return len(self.in_horizon(agendas, at))
