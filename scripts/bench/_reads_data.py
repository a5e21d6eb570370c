"""The recorded-reads bench's agenda: its sizes, the directory rows, the slots' times and the
walks' queries, the same every run (one seed)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

SEED = 5  # the issue number: the same agenda every run
PAGES, COUNT = 5, 50  # a walk: the first page and 4 next links, _count=50
REACHED = 5  # practitioners the measured connector reaches
BOOKERS = 4  # threads booking through commands.book while seeding
SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = 16  # 09:00 to 17:00 UTC
SPARE_SLOTS = 1.2  # slots opened per booked appointment: the agendas are not all full
REASONS = (
    "persistent cough for three weeks, follow-up of the chest X-ray",
    "renewal of the blood-pressure prescription; headaches since the dose changed",
    "knee pain after a fall, swelling on the inner side",
    "results of the thyroid panel and adjustment of the treatment",
)


@dataclass
class Agenda:
    """What the seeding made: who, and the days the slots cover."""

    practitioners: list[uuid.UUID]
    first_day: date
    days: int
    booked: int = 0
    with_reason: int = 0


def practitioner_row(i: int, practitioner_id: uuid.UUID) -> dict[str, Any]:
    """The i-th practitioner's directory row: three specialties in turn."""
    return {
        "practitioner_id": practitioner_id,
        "given_name": f"Practitioner{i}",
        "family_name": f"Bench{i}",
        "specialty": ("cardiology", "dermatology", "general practice")[i % 3],
    }


def patient_row(i: int, patient_id: uuid.UUID, rng: random.Random) -> dict[str, Any]:
    """The i-th patient's directory row, a birth date drawn from the seeded `rng`."""
    return {
        "patient_id": patient_id,
        "given_name": f"Given{i}",
        "family_name": f"Family{i}",
        "birth_date": date(1940, 1, 1) + timedelta(days=rng.randrange(30_000)),
        "gender": ("female", "male", "other")[i % 3],
        "email": f"patient{i}@example.org",
        "phone": f"+3360000{i:04d}",
        "preferred_language": ("fr", "en")[i % 2],
    }


def shares(n_appointments: int, n_practitioners: int) -> list[int]:
    """Appointments per practitioner: as even as the counts allow, the first ones one more."""
    return [n_appointments // n_practitioners + (k < n_appointments % n_practitioners)
            for k in range(n_practitioners)]  # fmt: skip


def intervals(first_day: date, count: int) -> list[tuple[datetime, datetime]]:
    """`count` back-to-back 30-minute slots, 16 a day from 09:00 UTC, from `first_day` on."""
    out = []
    for k in range(count):
        day, n = divmod(k, SLOTS_PER_DAY)
        start = datetime.combine(first_day + timedelta(days=day), datetime.min.time(), UTC)
        start += timedelta(hours=9) + n * SLOT
        out.append((start, start + SLOT))
    return out


def first_queries(agenda: Agenda, reached: list[uuid.UUID], walks: int) -> list[str]:
    """Each walk's first query string: one reached practitioner and a date window."""
    window = max(1, agenda.days - 6)
    out = []
    for w in range(walks):
        lo = agenda.first_day + timedelta(days=w % 7)
        params = [
            ("practitioner", f"Practitioner/{reached[w % len(reached)]}"),
            ("date", f"ge{lo.isoformat()}"),
            ("date", f"lt{(lo + timedelta(days=window)).isoformat()}"),
            ("_count", str(COUNT)),
        ]
        out.append(urlencode(params))
    return out
