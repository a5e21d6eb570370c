"""The seed incident, played end to end against running services, checked from both sides.

Phases: seed the platform, let honest connectors sync, let a compromised connector scrape,
wait for detection to contain it, open the incident, compare the system's affected set with
the scraper's own count (fail loudly on any difference; investigation.py), request the
Art. 34 notices and count the mails (notices.py), verify the ledger. Every number printed
comes from the services' APIs.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.cli.demo import investigation
from services.cli.demo.actors import HonestLog, ScrapeLog, honest_sync, scrape
from services.cli.demo.client import DemoError, Platform, actor_session
from services.cli.demo.notices import notify
from services.cli.demo.seed import Sizes, seed

Say = Callable[[str], None]
SCRAPER_CLIENT = ("127.0.0.66", "python-requests/2.32")  # its address, its user agent
HONEST_VENDOR, SCRAPER_VENDOR = "Synthetic Practice Software", "Synthetic Agenda Tools"


@dataclass(frozen=True)
class Attack:
    """The compromised connector: how many agendas it was granted, how long it may run."""

    granted_practitioners: int = 4
    probed_practitioners: int = 3
    threads: int = 4
    max_seconds: float = 120.0


@dataclass
class Outcome:
    """What the demo established, each figure from the system, checked against the scraper."""

    incident_id: str = ""
    appointments_exposed: int = 0
    patients_exposed: int = 0
    field_classes: list[str] = field(default_factory=list)
    medical_returned: str = ""
    first_read_to_suspension_s: float | None = None
    refused_after_suspension: int = 0
    notices_requested: int = 0
    mails_received: int = 0
    ledger_verified: bool = False
    witness: str = ""  # what the witness countersigned, and verify --witness's answer
    report_paths: list[str] = field(default_factory=list)
    honest_refused: int = 0


def play(
    platform: Platform,
    sizes: Sizes,
    attack: Attack,
    out_dir: Path,
    mail_dir: Path,
    say: Say,
    rng: random.Random | None = None,
) -> Outcome:
    """The whole incident; raises DemoError when the system and the scraper disagree."""
    rng = rng or random.Random(7)
    say("seeding the platform through the public APIs")
    seeded = seed(platform, sizes, lambda what, n, total: say(f"  {what}: {n}/{total}"), rng)
    say(f"  {len(seeded.appointments)} appointments, {seeded.with_reason} with a sealed reason")
    practitioners = list(seeded.by_practitioner)
    granted = practitioners[: attack.granted_practitioners]
    others = practitioners[attack.granted_practitioners :][: attack.probed_practitioners]
    # Every actor its own address and user agent, as on a real network, and the scraper its
    # own vendor: detection links principals sharing an address or a vendor, and rightly
    # throttles the partners linked to a contained one.
    clients = [(f"127.0.0.{11 + i}", f"PracticeSync/4.{i}") for i in range(3)]
    honest = [
        _connector(platform, practitioners[i::3][:4], f"Honest Sync {i}", HONEST_VENDOR, client)
        for i, client in enumerate(clients)
    ]
    scraper = _connector(
        platform, granted, "Compromised Agenda Tool", SCRAPER_VENDOR, SCRAPER_CLIENT
    )

    investigator = platform.password_token(seeded.investigator_id, seeded.investigator_password)
    say("waiting for audit to ledger the seeding (a canary read must reach the ledger)")
    investigation.wait_for_audit(platform, investigator, honest[0])
    stop = threading.Event()
    honest_logs = [HonestLog() for _ in honest]
    threads = [
        threading.Thread(
            target=honest_sync,
            args=(platform, c["token"], c["practitioners"], log, stop, c["session"]),
            daemon=True,
        )
        for c, log in zip(honest, honest_logs, strict=True)
    ]
    for t in threads:
        t.start()
    say("honest connectors syncing; the compromised connector starts scraping")
    scrape_log = ScrapeLog()
    started = datetime.now(UTC)
    scrape(
        platform,
        scraper["token"],
        granted,
        others,
        scrape_log,
        stop,
        attack.threads,
        attack.max_seconds,
        *SCRAPER_CLIENT,
    )
    stop.set()
    if scrape_log.first_refusal_at is None:
        raise DemoError("the scraper was never cut off: detection did not contain it")
    say(
        f"  cut off after {scrape_log.ok_requests} pages, {len(scrape_log.appointments)} "
        "appointments read"
    )
    outcome = Outcome(
        refused_after_suspension=scrape_log.refused_after_suspension,
        honest_refused=sum(h.refused for h in honest_logs),
    )
    window_start = started - timedelta(minutes=1)
    window_end = datetime.now(UTC) + timedelta(seconds=1)
    say("waiting for audit to ledger the scrape (every refusal is an access record too)")
    investigation.wait_for_audit(platform, investigator, honest[0])
    report = investigation.investigate(
        platform, investigator, scraper, window_start, window_end, out_dir, outcome
    )
    investigation.check(report, scrape_log)
    outcome.first_read_to_suspension_s = investigation.time_to_suspension(report)
    say("incident opened; the affected set equals the scraper's own count")
    notify(platform, investigator, outcome, mail_dir)
    verify = platform.audit_get(investigator, "/v1/audit/verify")
    outcome.ledger_verified = bool(verify.get("ok"))
    if not outcome.ledger_verified:
        raise DemoError(f"ledger verify failed: {json.dumps(verify)[:500]}")
    return outcome


def _connector(
    platform: Platform, practitioners: list[str], name: str, vendor: str, client: tuple[str, str]
) -> dict[str, Any]:
    """A connector registered and granted by the admin, signed in from its own address."""
    c = platform.admin(
        "/v1/connectors",
        {"name": name, "vendor": vendor, "contact_email": "ops@example.org"},
    )
    for practitioner in practitioners:
        platform.admin(
            f"/v1/practitioners/{practitioner}/grants",
            {"connector_id": c["connector_id"], "scopes": ["appointment:read"]},
        )
    c["session"] = actor_session(*client)
    c["token"] = platform.client_token(c["client_id"], c["client_secret"], c["session"])
    c["practitioners"] = practitioners
    return c
