"""The seed incident, played end to end against running services, checked from both sides.

Phases: seed the platform, let honest connectors sync, let a compromised connector scrape,
wait for detection to contain it, open the incident, compare the system's affected set with
the scraper's own count (fail loudly on any difference), request the Art. 34 notices, count
the mails, verify the ledger. Every number printed comes from the services' APIs.
"""

from __future__ import annotations

import email
import email.policy
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.cli.demo.actors import HonestLog, ScrapeLog, honest_sync, scrape
from services.cli.demo.client import DemoError, Platform
from services.cli.demo.seed import Sizes, seed

Say = Callable[[str], None]


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
    report_paths: list[str] = field(default_factory=list)
    honest_refused: int = 0


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll until `check` is truthy; DemoError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise DemoError(f"timed out waiting for {what}")


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
    honest = [_connector(platform, practitioners[i::3][:4], f"Honest Sync {i}") for i in range(3)]
    scraper = _connector(platform, granted, "Compromised Agenda Tool")

    investigator = platform.password_token(seeded.investigator_id, seeded.investigator_password)
    say("waiting for audit to ledger the seeding (a canary read must reach the ledger)")
    _wait_for_audit(platform, investigator, honest[0])
    stop = threading.Event()
    honest_logs = [HonestLog() for _ in honest]
    threads = [
        threading.Thread(
            target=honest_sync,
            args=(platform, c["token"], c["practitioners"], log, stop),
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
    served = scrape_log.ok_requests
    wait_until(
        "audit to ingest every access record",
        lambda: (
            _served(platform, investigator, scraper["connector_id"], window_start, window_end)
            >= served
        ),
        timeout=60,
    )
    report = _investigate(
        platform, investigator, scraper, window_start, window_end, out_dir, outcome
    )
    _check(report, scrape_log)
    outcome.first_read_to_suspension_s = _time_to_suspension(report)
    say("incident opened; the affected set equals the scraper's own count")
    _notify(platform, investigator, outcome, mail_dir)
    verify = platform.audit_get(investigator, "/v1/audit/verify")
    outcome.ledger_verified = bool(verify.get("ok"))
    if not outcome.ledger_verified:
        raise DemoError(f"ledger verify failed: {json.dumps(verify)[:500]}")
    return outcome


def _wait_for_audit(platform: Platform, investigator: str, canary: dict[str, Any]) -> None:
    """Audit ledgers booking's events in order: once a fresh read is ledgered, all before it is."""
    r = platform.fhir_get(
        canary["token"], f"/fhir/Appointment?practitioner={canary['practitioners'][0]}&_count=1"
    )
    if r.status_code != 200:
        raise DemoError(f"canary read refused: {r.status_code}")
    access_id = r.headers["X-Carnet-Access-Id"]

    def ledgered() -> bool:
        body = platform.audit_get(
            investigator, "/v1/audit/accesses", connector=canary["connector_id"]
        )
        return any(a["access_id"] == access_id for a in body["accesses"])

    wait_until("audit to catch up with the seeding", ledgered, timeout=900, every=2.0)


def _connector(platform: Platform, practitioners: list[str], name: str) -> dict[str, Any]:
    c = platform.admin(
        "/v1/connectors",
        {"name": name, "vendor": "Synthetic Vendor", "contact_email": "ops@example.org"},
    )
    for practitioner in practitioners:
        platform.admin(
            f"/v1/practitioners/{practitioner}/grants",
            {"connector_id": c["connector_id"], "scopes": ["appointment:read"]},
        )
    c["token"] = platform.client_token(c["client_id"], c["client_secret"])
    c["practitioners"] = practitioners
    return c


def _served(
    platform: Platform, token: str, connector_id: str, start: datetime, end: datetime
) -> int:
    rows = platform.audit_get(
        token,
        "/v1/audit/accesses",
        connector=connector_id,
        **{"from": start.isoformat(), "to": end.isoformat()},
    )
    records = rows["accesses"] if isinstance(rows, dict) else rows
    return sum(1 for r in records if r["outcome"] == "success")


def _investigate(
    platform: Platform,
    token: str,
    scraper: dict[str, Any],
    start: datetime,
    end: datetime,
    out_dir: Path,
    outcome: Outcome,
) -> dict[str, Any]:
    opened = platform.audit_post(
        token,
        "/v1/audit/incidents",
        {
            "title": "Connector scraping appointments",
            "connector_id": scraper["connector_id"],
            "from": start.isoformat(),
            "to": end.isoformat(),
            "aware_at": datetime.now(UTC).isoformat(),
        },
    )
    outcome.incident_id = opened["incident_id"]
    report = opened["report"]
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"incident-{outcome.incident_id}"
    for suffix, path in (("json", ""), ("md", "/report.md"), ("csv", "/patients.csv")):
        target = base.with_suffix(f".{suffix}")
        if suffix == "json":
            target.write_text(json.dumps(report, indent=2))
        else:
            r = platform.session.get(
                f"{platform.audit}/v1/audit/incidents/{outcome.incident_id}{path}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
            if r.status_code != 200:
                raise DemoError(f"report {path}: {r.status_code}")
            target.write_text(r.text)
        outcome.report_paths.append(str(target))
    affected = report["affected"]
    outcome.appointments_exposed = affected["appointment_count"]
    outcome.patients_exposed = affected["patient_count"]
    outcome.field_classes = affected["field_classes"]
    outcome.medical_returned = report["art33"]["medical_fields_returned"]
    return report


def _check(report: dict[str, Any], scraped: ScrapeLog) -> None:
    """The system's affected set must be exactly what the scraper received."""
    affected = report["affected"]
    system_appointments = {a["appointment_id"] for a in affected["appointments"]}
    system_patients = {p["patient_id"] for p in affected["patients"]}
    problems = []
    if system_appointments != scraped.appointments:
        problems.append(
            f"appointments: system {len(system_appointments)}, scraper {len(scraped.appointments)}"
        )
    if system_patients != scraped.patients:
        problems.append(f"patients: system {len(system_patients)}, scraper {len(scraped.patients)}")
    if affected["served_requests"] != scraped.ok_requests:
        problems.append(
            f"served requests: system {affected['served_requests']}, scraper {scraped.ok_requests}"
        )
    if scraped.medical_seen or affected["medical_decrypted"]:
        problems.append("medical fields were returned")
    if problems:
        raise DemoError("the system and the scraper disagree: " + "; ".join(problems))


def _time_to_suspension(report: dict[str, Any]) -> float | None:
    """From the first read the ledger recorded to identity's ConnectorSuspended event."""
    suspended = [s["at"] for s in report["containment"] if s["event_type"] == "ConnectorSuspended"]
    first = report["affected"]["first_read_at"]
    if not suspended or first is None:
        return None
    return (datetime.fromisoformat(suspended[0]) - datetime.fromisoformat(first)).total_seconds()


BREACH_SUBJECTS = (
    "Information importante : accès non autorisé à des informations de vos rendez-vous",
    "Important: unauthorised access to some of your appointment details",
)


def breach_mails(mail_dir: Path) -> int:
    """Art. 34 notices the mail server accepted (confirmations and reminders are not counted)."""
    count = 0
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        count += str(message.get("Subject", "")) in BREACH_SUBJECTS
    return count


def _notify(platform: Platform, token: str, outcome: Outcome, mail_dir: Path) -> None:
    before = breach_mails(mail_dir)
    answer = platform.audit_post(token, f"/v1/audit/incidents/{outcome.incident_id}/notify", {})
    outcome.notices_requested = answer["notices_requested"]
    wait_until(
        "every Art. 34 notice to reach the mail server",
        lambda: breach_mails(mail_dir) - before >= outcome.notices_requested,
        timeout=300,
        every=2.0,
    )
    outcome.mails_received = breach_mails(mail_dir) - before
    platform.audit_post(token, f"/v1/audit/incidents/{outcome.incident_id}/regulator-notice", {})
