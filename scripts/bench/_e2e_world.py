"""Seed the running system through its public APIs: people, a reading connector, free slots."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scripts.bench._system import connect
from services.cli.demo.client import Platform
from services.cli.demo.seed import GIVEN, SPECIALTIES

SLOT_MINUTES = 5
SLOTS_PER_OPENING = 480  # 40 hours of 5-minute slots (booking allows 500 per opening)
WORKERS = 8
READER_QUOTA = {"per_hour": 1_000_000, "burst": 10_000}
# The read steps' partner: the largest quota an operator can set (10^7 an hour), its bucket
# as deep, so no read step waits on it; trusted as for a planned full re-read (see _e2e_reads).
PARTNER_QUOTA = {"per_hour": 10_000_000, "burst": 10_000_000}
PARTNER_TRUST = {"hours": 168, "reason": "bench: re-reads its agendas' first pages at load"}


@dataclass
class World:
    """What the seeding made, and the free slots the load books, one each."""

    practitioners: list[str]
    patients: list[str]
    investigator: tuple[str, str]  # staff id, password
    reader: dict[str, Any] = field(default_factory=dict)  # connector, token, practitioners
    partner: dict[str, Any] = field(default_factory=dict)  # the read steps' connector, the same
    slots: deque[str] = field(default_factory=deque)
    next_start: dict[str, datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(11))

    def take(self) -> tuple[str, str]:
        """A free slot and a patient for the next booking (IndexError when none is left)."""
        with self.lock:
            return self.slots.popleft(), self.rng.choice(self.patients)


def connector(platform: Platform, practitioners: list[str], name: str) -> dict[str, Any]:
    """A connector granted appointment:read on `practitioners`, with its access token."""
    c = platform.admin(
        "/v1/connectors",
        {"name": name, "vendor": "Bench Vendor", "contact_email": "ops@example.org"},
    )
    for practitioner in practitioners:
        platform.admin(
            f"/v1/practitioners/{practitioner}/grants",
            {"connector_id": c["connector_id"], "scopes": ["appointment:read"]},
        )
    return {**c, "token": platform.client_token(c["client_id"], c["client_secret"]),
            "practitioners": practitioners}  # fmt: skip


def seed(platform: Platform, database_url: str, practitioners: int, patients: int) -> World:
    """Practitioners, patients, an investigator, the reading connector and the read steps'
    partner (every agenda); waits until booking has learnt every patient from identity's
    events (bookings would be refused)."""
    run = uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(WORKERS) as pool:
        pract = list(
            pool.map(
                lambda i: platform.admin(
                    "/v1/practitioners",
                    {"given_name": GIVEN[i % len(GIVEN)], "family_name": f"Bench{i:03d}",
                     "specialty": SPECIALTIES[i % len(SPECIALTIES)],
                     "email": f"practitioner{i:03d}.{run}@example.org"},
                )["practitioner_id"],
                range(practitioners),
            )
        )  # fmt: skip
        people = list(
            pool.map(
                lambda i: platform.admin(
                    "/v1/patients",
                    {"given_name": GIVEN[i % len(GIVEN)], "family_name": f"Patient{i:05d}",
                     "birth_date": f"{1940 + i % 70}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                     "gender": ("female", "male", "other")[i % 3],
                     "email": f"patient{i:05d}.{run}@example.org", "phone": f"+3360000{i:04d}",
                     "preferred_language": "fr" if i % 4 else "en"},
                )["patient_id"],
                range(patients),
            )
        )  # fmt: skip
    password = uuid.uuid4().hex
    staff = platform.admin(
        "/v1/staff",
        {"role": "investigator", "display_name": "Bench Investigator",
         "email": f"investigator.{run}@example.org", "password": password},
    )  # fmt: skip
    world = World(pract, people, (staff["staff_id"], password))
    world.reader = connector(platform, pract[: max(1, len(pract) // 4)], "Bench Agenda Sync")
    # A busy partner's agreement: the load reads far more than the default connector quota
    # (20,000 appointments an hour) allows, and the bench measures load, not the quota.
    platform.admin_put(f"/v1/connectors/{world.reader['connector_id']}/quota", READER_QUOTA)
    world.partner = connector(platform, pract, "Bench Partner Sync")
    partner = f"/v1/connectors/{world.partner['connector_id']}"
    platform.admin_put(f"{partner}/quota", PARTNER_QUOTA)
    platform.admin(f"{partner}/trust", PARTNER_TRUST)
    _wait_for_patients(database_url, patients)
    return world


def _wait_for_patients(database_url: str, expected: int, timeout: float = 300.0) -> None:
    """Booking learns patients from identity's events, a moment after registration."""
    deadline = time.monotonic() + timeout
    with connect(database_url) as conn:
        while True:
            known = conn.execute("SELECT count(*) FROM booking.patients").fetchone()[0]
            if known >= expected:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"booking knows {known} of {expected} patients")
            time.sleep(0.5)


def open_slots(platform: Platform, world: World, wanted: int) -> int:
    """Open 5-minute slots, round robin over the practitioners, until `wanted` are free."""
    missing = wanted - len(world.slots)
    if missing <= 0:
        return 0
    openings = -(-missing // SLOTS_PER_OPENING)
    day0 = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    span = timedelta(minutes=SLOT_MINUTES * SLOTS_PER_OPENING)
    plan = []
    for k in range(openings):
        practitioner = world.practitioners[k % len(world.practitioners)]
        start = world.next_start.get(practitioner, day0)
        world.next_start[practitioner] = start + span
        plan.append((practitioner, start))

    def one(item: tuple[str, datetime]) -> list[str]:
        practitioner, start = item
        body = {"service_type": "consultation", "start": start.isoformat(),
                "end": (start + span).isoformat(), "duration_minutes": SLOT_MINUTES}  # fmt: skip
        return platform.open_slots(practitioner, body)

    fresh: list[str] = []
    with ThreadPoolExecutor(4) as pool:
        for ids in pool.map(one, plan):
            fresh += ids
    world.rng.shuffle(fresh)  # consecutive bookings land on different agendas
    with world.lock:
        world.slots.extend(fresh)
    return len(fresh)
