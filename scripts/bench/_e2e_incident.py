"""The incident scenario, small, under booking load: a compromised connector scrapes until
detection suspends it; the time from its first read to the suspension comes from the incident
report, as `carnet demo` measures it (services/cli/demo/scenario.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scripts.bench._e2e_step import THREADS, booking_sender
from scripts.bench._e2e_world import World, connector
from scripts.bench._load import Call, open_loop
from scripts.bench._system import System
from services.cli.demo.actors import ScrapeLog, scrape
from services.cli.demo.client import Platform

GRANTED, PROBED, SCRAPER_THREADS = 2, 3, 4  # as the demo's Attack, at a small scale


@dataclass
class Incident:
    """One scrape: how long until suspension, and what each side saw."""

    seconds: float | None  # first malicious read -> ConnectorSuspended (None: never cut off)
    pages: int = 0
    appointments: int = 0
    refused_after: int = 0
    rule: str = ""
    background: list[Call] = field(default_factory=list)


def _served(platform: Platform, token: str, connector_id: str, since: datetime) -> int:
    """Successful reads of the connector the audit index holds since `since`."""
    body = platform.audit_get(token, "/v1/audit/accesses", connector=connector_id,
                              limit=10_000, **{"from": since.isoformat()})  # fmt: skip
    return sum(1 for r in body["accesses"] if r["outcome"] == "success")


def _time_to_suspension(report: dict[str, Any]) -> tuple[float | None, str]:
    """From the first read the ledger recorded to identity's ConnectorSuspended (as the demo)."""
    suspended = [s for s in report["containment"] if s["event_type"] == "ConnectorSuspended"]
    first = report["affected"]["first_read_at"]
    if not suspended or first is None:
        return None, ""
    at = datetime.fromisoformat(suspended[0]["at"]) - datetime.fromisoformat(first)
    rules = [str(s["rule"]) for s in report["containment"] if s.get("rule")]
    return at.total_seconds(), rules[0] if rules else str(suspended[0].get("reason", ""))


def incident(
    platform: Platform, system: System, world: World, rate: float, max_seconds: float, n: int
) -> Incident:
    """Scrape (granted agendas, then probing others) while booking goes on at `rate`."""
    granted = world.practitioners[n * GRANTED : (n + 1) * GRANTED] or world.practitioners[:GRANTED]
    others = [p for p in world.practitioners if p not in granted][:PROBED]
    scraper = connector(platform, granted, f"Compromised Agenda Tool {n}")
    investigator = platform.password_token(*world.investigator)
    stop, background = threading.Event(), []
    load = threading.Thread(
        target=lambda: background.extend(
            open_loop(booking_sender(system, world), rate, max_seconds + 60, THREADS, stop)
        ),
        daemon=True,
    )
    started = datetime.now(UTC) - timedelta(minutes=1)
    load.start()
    log = ScrapeLog()
    try:
        scrape(platform, scraper["token"], granted, others, log, threading.Event(),
               SCRAPER_THREADS, max_seconds)  # fmt: skip
    finally:
        stop.set()
        load.join()
    out = Incident(None, log.ok_requests, len(log.appointments), log.refused_after_suspension)
    out.background = background
    if log.first_refusal_at is None:
        return out  # never cut off within max_seconds: reported as such
    deadline = time.monotonic() + 300
    while _served(platform, investigator, scraper["connector_id"], started) < log.ok_requests:
        if time.monotonic() > deadline:
            raise RuntimeError("audit did not index the scraper's reads within 300 s")
        time.sleep(1.0)
    opened = platform.audit_post(
        investigator,
        "/v1/audit/incidents?wait=true",
        {"title": f"Bench scrape {n}", "connector_id": scraper["connector_id"],
         "from": started.isoformat(),
         "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
         "aware_at": datetime.now(UTC).isoformat()},
    )  # fmt: skip
    report = opened["report"] or _final_report(platform, investigator, opened["incident_id"])
    out.seconds, out.rule = _time_to_suspension(report)
    return out


def _final_report(platform: Platform, token: str, incident_id: str) -> dict[str, Any]:
    """The report once the ledger holds the whole window (202 until then, as the API says)."""
    deadline = time.monotonic() + 300
    url = f"{platform.audit}/v1/audit/incidents/{incident_id}"
    while time.monotonic() < deadline:
        auth = {"Authorization": f"Bearer {token}"}
        r = platform.session.get(url, params={"wait": "true"}, headers=auth, timeout=120)
        if r.status_code == 200:
            return r.json()
        if r.status_code != 202:
            raise RuntimeError(f"incident report: {r.status_code} {r.text[:200]}")
        time.sleep(float(r.headers.get("Retry-After", "1")))
    raise RuntimeError("the incident's report was not final within 300 s")
