"""The demo's connectors: honest agenda syncs, and one compromised connector scraping.

Each keeps its own count of what it received, so the demo can hold the system's report
against the attacker's side of the story.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from services.cli.demo.client import Platform, actor_session


@dataclass
class ScrapeLog:
    """What the scraper got, from its own side."""

    appointments: set[str] = field(default_factory=set)
    patients: set[str] = field(default_factory=set)
    medical_seen: int = 0
    ok_requests: int = 0
    denied: int = 0
    refused_after_suspension: int = 0
    first_read_at: datetime | None = None
    last_read_at: datetime | None = None
    first_refusal_at: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def took(self, bundle: dict) -> None:
        """Count one successful page."""
        now = datetime.now(UTC)
        with self.lock:
            self.ok_requests += 1
            self.first_read_at = self.first_read_at or now
            self.last_read_at = now
            for entry in bundle.get("entry", []):
                resource = entry["resource"]
                self.appointments.add(resource["id"])
                for contained in resource.get("contained", []):
                    for ident in contained.get("identifier", []):
                        self.patients.add(ident["value"])
                if "reasonCode" in resource or "comment" in resource:
                    self.medical_seen += 1

    def refused(self, status: int) -> None:
        """401 after suspension; 403 when asking outside the grants."""
        with self.lock:
            if status == 401:
                self.refused_after_suspension += 1
                self.first_refusal_at = self.first_refusal_at or datetime.now(UTC)
            else:
                self.denied += 1


def _window() -> str:
    now = datetime.now(UTC)
    lo, hi = (
        now.strftime("%Y-%m-%dT00:00:00Z"),
        (now + timedelta(days=60)).strftime("%Y-%m-%dT00:00:00Z"),
    )
    return f"date=ge{quote(lo)}&date=lt{quote(hi)}"


def scrape(
    platform: Platform,
    token: str,
    granted: list[str],
    others: Iterable[str],
    log: ScrapeLog,
    stop: threading.Event,
    threads: int = 4,
    max_seconds: float = 120.0,
    address: str = "127.0.0.66",
    agent: str = "python-requests/2.32",
) -> None:
    """Read every granted agenda at the maximal page size, then probe the others, until cut
    off; a 429 is asked again at once (a tool that ignores Retry-After)."""
    targets = list(granted) + list(others)
    deadline = time.monotonic() + max_seconds
    cut_off = threading.Event()

    def worker(offset: int) -> None:
        session = actor_session(address, agent)  # one per thread, all from its address
        i = offset
        while not (stop.is_set() or cut_off.is_set()) and time.monotonic() < deadline:
            practitioner = targets[i % len(targets)]
            i += threads
            url = f"/fhir/Appointment?practitioner={practitioner}&{_window()}&_count=100"
            while url and not cut_off.is_set():
                r = platform.fhir_get(token, url, session)
                if r.status_code == 200:
                    bundle = r.json()
                    log.took(bundle)
                    nxt = [x["url"] for x in bundle.get("link", []) if x["relation"] == "next"]
                    url = nxt[0] if nxt else None
                else:
                    log.refused(r.status_code)
                    if r.status_code == 401 and log.refused_after_suspension >= 3 * threads:
                        cut_off.set()
                    url = None

    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


@dataclass
class HonestLog:
    """An honest connector's side: requests made, refusals (there should be none)."""

    requests: int = 0
    refused: int = 0


def _instant(when: datetime) -> str:
    """A FHIR instant for a query string."""
    return quote(when.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _walk(platform: Platform, token: str, url: str, log: HonestLog, session: Any) -> bool:
    """Every page of one search, following `next`; False when a page was refused."""
    while url:
        r = platform.fhir_get(token, url, session)
        log.requests += 1
        if r.status_code != 200:
            log.refused += 1
            return False
        url = next((x["url"] for x in r.json().get("link", []) if x["relation"] == "next"), "")
    return True


def honest_sync(
    platform: Platform,
    token: str,
    practitioners: list[str],
    log: HonestLog,
    stop: threading.Event,
    session: Any,
    every_s: float = 10.0,
) -> None:
    """Sync as docs/booking.md's sync contract says: each agenda in full once (from 30 days
    ago on), then only what changed since the last sync began (minus a minute of overlap),
    in the partner's own session (its address, its user agent)."""
    horizon = _instant(datetime.now(UTC) - timedelta(days=30))
    since: dict[str, datetime] = {}
    while True:
        for practitioner in practitioners:
            began = datetime.now(UTC)
            query = f"/fhir/Appointment?practitioner={practitioner}&_count=100"
            if practitioner in since:
                query += f"&_lastUpdated=gt{_instant(since[practitioner] - timedelta(minutes=1))}"
            else:
                query += f"&date=ge{horizon}"
            if _walk(platform, token, query, log, session):
                since[practitioner] = began
        if stop.wait(every_s):
            return
