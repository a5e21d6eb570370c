"""Seed a realistic platform through the public APIs: practitioners, patients, a month of agenda."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.cli.demo.client import Platform

SPECIALTIES = (
    "general practice",
    "dermatology",
    "cardiology",
    "paediatrics",
    "psychiatry",
    "gynaecology",
    "ophthalmology",
    "dentistry",
)
GIVEN = ("Alex", "Camille", "Charlie", "Dominique", "Jules", "Lou", "Maxime", "Sacha")
REASONS = (
    "follow-up visit",
    "persistent cough",
    "skin rash",
    "blood pressure check",
    "annual check-up",
    "knee pain",
    "sleep problems",
    "vaccination",
)
INVESTIGATOR_PASSWORD_BYTES = 18

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Sizes:
    """How big the seeded platform is (the demo's flags)."""

    practitioners: int = 20
    patients: int = 1000
    appointments: int = 3000
    days: int = 30
    workers: int = 8


@dataclass
class Seeded:
    """What was created, as the seeding saw it (ids only: the platform holds the rest)."""

    practitioners: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    appointments: dict[str, str] = field(default_factory=dict)  # appointment -> patient
    by_practitioner: dict[str, list[str]] = field(default_factory=dict)
    with_reason: int = 0
    investigator_id: str = ""
    investigator_password: str = ""


def _pool(sizes: Sizes) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=sizes.workers)


def seed(platform: Platform, sizes: Sizes, progress: Progress, rng: random.Random) -> Seeded:
    """Register people, open a month of slots, book appointments (a third with a reason)."""
    out = Seeded()
    run = uuid.uuid4().hex[:6]  # e-mails are unique per kind: a second demo run needs new ones
    with _pool(sizes) as pool:
        out.practitioners = list(
            pool.map(
                lambda i: platform.admin(
                    "/v1/practitioners",
                    {
                        "given_name": GIVEN[i % len(GIVEN)],
                        "family_name": f"Practitioner{i:03d}",
                        "specialty": SPECIALTIES[i % len(SPECIALTIES)],
                        "email": f"practitioner{i:03d}.{run}@example.org",
                    },
                )["practitioner_id"],
                range(sizes.practitioners),
            )
        )
        progress("practitioners", len(out.practitioners), sizes.practitioners)

        def patient(i: int) -> str:
            return platform.admin(
                "/v1/patients",
                {
                    "given_name": GIVEN[i % len(GIVEN)],
                    "family_name": f"Patient{i:05d}",
                    "birth_date": f"{1940 + i % 70}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "gender": ("female", "male", "other")[i % 3],
                    "email": f"patient{i:05d}.{run}@example.org",
                    "phone": f"+3360000{i:04d}",
                    "preferred_language": "fr" if i % 4 else "en",
                },
            )["patient_id"]

        for done, pid in enumerate(pool.map(patient, range(sizes.patients)), start=1):
            out.patients.append(pid)
            if done % 250 == 0 or done == sizes.patients:
                progress("patients", done, sizes.patients)
        password = uuid.uuid4().hex[:INVESTIGATOR_PASSWORD_BYTES]
        staff = platform.admin(
            "/v1/staff",
            {
                "role": "investigator",
                "display_name": "Demo Investigator",
                "email": f"investigator.{run}@example.org",
                "password": password,
            },
        )
        out.investigator_id, out.investigator_password = staff["staff_id"], password
        slots = _open_month(platform, pool, out.practitioners, sizes, progress)
        _book(platform, pool, slots, out, sizes, progress, rng)
    return out


def _open_month(
    platform: Platform,
    pool: ThreadPoolExecutor,
    practitioners: list[str],
    sizes: Sizes,
    progress: Progress,
) -> list[tuple[str, str]]:
    """Weekday slots of 20 minutes, 08:00-18:00 UTC, from tomorrow over `days` days."""
    per_practitioner = -(-sizes.appointments // max(1, len(practitioners)))
    day0 = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )

    def open_for(practitioner: str) -> list[tuple[str, str]]:
        got: list[tuple[str, str]] = []
        day = 0
        while len(got) < per_practitioner and day < sizes.days * 3:
            start = day0 + timedelta(days=day)
            day += 1
            if start.weekday() >= 5:
                continue
            body = {
                "service_type": "consultation",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=10)).isoformat(),
                "duration_minutes": 20,
            }
            got += [(practitioner, s) for s in platform.open_slots(practitioner, body)]
        return got[:per_practitioner]

    slots: list[tuple[str, str]] = []
    for done, opened in enumerate(pool.map(open_for, practitioners), start=1):
        slots += opened
        progress("agendas", done, len(practitioners))
    return slots


def _book(
    platform: Platform,
    pool: ThreadPoolExecutor,
    slots: list[tuple[str, str]],
    out: Seeded,
    sizes: Sizes,
    progress: Progress,
    rng: random.Random,
) -> None:
    """Book `appointments` of the slots for random patients, through the FHIR interface."""
    chosen = slots[: sizes.appointments]
    plan = [(p, s, rng.choice(out.patients), rng.random() < 1 / 3) for p, s in chosen]

    def book(item: tuple[str, str, str, bool]) -> tuple[str, str, str, bool]:
        practitioner, slot, patient, with_reason = item
        reason = REASONS[hash(slot) % len(REASONS)] if with_reason else None
        return practitioner, platform.book(None, slot, patient, reason), patient, with_reason

    for done, (practitioner, appointment, patient, with_reason) in enumerate(
        pool.map(book, plan), start=1
    ):
        out.appointments[appointment] = patient
        out.by_practitioner.setdefault(practitioner, []).append(appointment)
        out.with_reason += with_reason
        if done % 500 == 0 or done == len(plan):
            progress("appointments", done, len(plan))
