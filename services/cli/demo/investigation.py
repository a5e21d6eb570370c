"""The investigator's side of the demo: audit's view of the scrape, checked against the scraper's.

Every figure comes from audit's API (accesses, the incident and its reports); the demo fails
loudly if the affected set differs in any way from what the scraper itself received.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.demo.actors import ScrapeLog
from services.cli.demo.client import DemoError, Platform, wait_until

if TYPE_CHECKING:
    from services.cli.demo.scenario import Outcome


def wait_for_audit(platform: Platform, investigator: str, canary: dict[str, Any]) -> None:
    """Audit ledgers booking's events in order: once a fresh read is ledgered, all before it is."""
    r = platform.fhir_get(
        canary["token"],
        f"/fhir/Appointment?practitioner={canary['practitioners'][0]}&_count=1",
        canary["session"],
    )
    if r.status_code != 200:
        raise DemoError(f"canary read refused: {r.status_code}")
    access_id = r.headers["X-Carnet-Access-Id"]

    def ledgered() -> bool:
        body = platform.audit_get(
            investigator, "/v1/audit/accesses", connector=canary["connector_id"]
        )
        return any(a["access_id"] == access_id for a in body["accesses"])

    wait_until("audit to catch up", ledgered, timeout=900, every=2.0)


def investigate(
    platform: Platform,
    token: str,
    scraper: dict[str, Any],
    start: datetime,
    end: datetime,
    out_dir: Path,
    outcome: Outcome,
) -> dict[str, Any]:
    """Open the incident, save its JSON, Markdown and CSV reports, copy its figures."""
    opened = platform.audit_post(
        token,
        "/v1/audit/incidents?wait=true",
        {
            "title": "Connector scraping appointments",
            "subjects": [{"kind": "connector", "value": scraper["connector_id"]}],
            "from": start.isoformat(),
            "to": end.isoformat(),
            "aware_at": datetime.now(UTC).isoformat(),
        },
    )
    outcome.incident_id = opened["incident_id"]
    report = opened["report"]
    if report is None:  # audit still behind after its longest wait: the report is not final
        raise DemoError(f"the ledger lacks {opened['completeness']['pending']} events")
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


def check(report: dict[str, Any], scraped: ScrapeLog) -> None:
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


def time_to_suspension(report: dict[str, Any]) -> float | None:
    """From the first read the ledger recorded to identity's ConnectorSuspended event."""
    suspended = [s["at"] for s in report["containment"] if s["event_type"] == "ConnectorSuspended"]
    first = report["affected"]["first_read_at"]
    if not suspended or first is None:
        return None
    return (datetime.fromisoformat(suspended[0]) - datetime.fromisoformat(first)).total_seconds()
