"""Set the stage through the public APIs, before any fault: people, one connector, open agendas.

Each worker gets agendas of its own (practitioners i, i + workers, …), so the slots it books
are never touched by another worker.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from scripts.chaos.client import Credentials
from scripts.chaos.model import SlotRef
from services.cli.demo.client import DemoError, Platform

SLOTS_PER_DAY = 30  # 08:00-18:00 UTC, 20 minutes each
DAYS_AHEAD = 3  # past the 24 h reminder lead: reminders are queued, none falls due in a run


@dataclass
class Stage:
    """What the load generator works with."""

    patients: list[str]
    credentials: Credentials
    slots_per_worker: list[list[SlotRef]]


def _open_day(platform: Platform, practitioner: str, day: datetime) -> list[SlotRef]:
    """One day of slots; booking learns the practitioner from identity's event a moment later."""
    body = {
        "service_type": "consultation",
        "start": day.isoformat(),
        "end": (day + timedelta(minutes=20 * SLOTS_PER_DAY)).isoformat(),
        "duration_minutes": 20,
    }
    deadline = time.monotonic() + 120
    while True:
        r = platform.session.post(
            f"{platform.booking}/v1/practitioners/{practitioner}/slots",
            json=body,
            headers={"Authorization": f"Bearer {platform.admin_token}"},
            timeout=60,
        )
        if r.status_code == 201:
            return [
                SlotRef(practitioner, s["slot_id"], s["start"], s["end"]) for s in r.json()["slots"]
            ]
        if r.status_code != 422 or time.monotonic() > deadline:
            raise DemoError(f"opening slots answered {r.status_code}: {r.text[:200]}")
        time.sleep(0.3)


def _wait_for_directories(database_url: str, patients: int, practitioners: int) -> None:
    """Booking and notification learn people from identity's events: wait for all of them."""
    checks = (
        ("SELECT count(*) FROM booking.patients", patients),
        ("SELECT count(*) FROM booking.practitioners", practitioners),
        ("SELECT count(*) FROM notification.contacts", patients),
        ("SELECT count(*) FROM notification.practitioners", practitioners),
    )
    deadline = time.monotonic() + 180
    with psycopg.connect(database_url, autocommit=True) as conn:
        while any(conn.execute(q).fetchone()[0] < n for q, n in checks):
            if time.monotonic() > deadline:
                raise DemoError("booking or notification did not learn every registration")
            time.sleep(0.5)


def stage(
    platform: Platform,
    database_url: str,
    workers: int,
    practitioners: int,
    patients: int,
    slots_needed: int,
) -> Stage:
    """Register people and a connector granted read and write on every agenda; open slots."""
    tag = uuid.uuid4().hex[:6]
    doctors = [
        platform.admin(
            "/v1/practitioners",
            {
                "given_name": "Chaos",
                "family_name": f"Practitioner{i:02d}",
                "specialty": "general practice",
                "email": f"chaos.practitioner{i:02d}.{tag}@example.org",
            },
        )["practitioner_id"]
        for i in range(practitioners)
    ]
    people = [
        platform.admin(
            "/v1/patients",
            {
                "given_name": "Chaos",
                "family_name": f"Patient{i:03d}",
                "birth_date": f"{1950 + i % 50}-01-{1 + i % 28:02d}",
                "gender": ("female", "male", "other")[i % 3],
                "email": f"chaos.patient{i:03d}.{tag}@example.org",
                "preferred_language": "fr" if i % 2 else "en",
            },
        )["patient_id"]
        for i in range(patients)
    ]
    connector = platform.admin(
        "/v1/connectors",
        {"name": f"chaos-{tag}", "vendor": "Chaos Runner", "contact_email": "ops@example.org"},
    )
    for doctor in doctors:
        platform.admin(
            f"/v1/practitioners/{doctor}/grants",
            {
                "connector_id": connector["connector_id"],
                "scopes": ["appointment:read", "appointment:write"],
            },
        )
    _wait_for_directories(database_url, patients, practitioners)
    day0 = (datetime.now(UTC) + timedelta(days=DAYS_AHEAD)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    days = max(1, -(-slots_needed // (SLOTS_PER_DAY * practitioners)))
    per_worker: list[list[SlotRef]] = [[] for _ in range(workers)]
    for i, doctor in enumerate(doctors):
        for d in range(days):
            per_worker[i % workers] += _open_day(platform, doctor, day0 + timedelta(days=d))
    credentials = Credentials(platform.identity, connector["client_id"], connector["client_secret"])
    credentials.refresh("", time.monotonic() + 60, Counter())
    return Stage(people, credentials, per_worker)
