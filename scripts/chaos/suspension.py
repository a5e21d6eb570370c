"""After the faults: a suspended connector is refused by every booking replica within a second.

Each replica first serves the connector (so its principal cache holds it), then identity
suspends it; each replica is polled until it answers 401. The cache's TTL (0.5 s) alone would
meet the bound, so each replica's log must also show it dropped the connector on the event
(`principals.dropped`): every replica hears it on a queue of its own (`@consume_broadcast`).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import requests

from services.cli.demo.client import Platform

WITHIN_S = 1.0


def _status(url: str, token: str) -> int:
    try:
        r = requests.get(
            f"{url}/fhir/Appointment",
            params={"date": "ge2099-01-01"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    except requests.RequestException:
        return 0
    return r.status_code


def refusal_delays(platform: Platform, booking_urls: list[str], timeout: float = 10.0) -> list:
    """Seconds from the suspend call to each replica's first 401 (None: never in `timeout`)."""
    body = {"name": f"chaos-{uuid.uuid4().hex[:6]}", "vendor": "Chaos",
            "contact_email": "ops@chaos.example.org"}  # fmt: skip
    connector = platform.admin("/v1/connectors", body)
    token = platform.client_token(connector["client_id"], connector["client_secret"])
    for url in booking_urls:  # each replica caches the principal
        if _status(url, token) in (0, 401):
            raise RuntimeError(f"{url} did not serve a fresh connector's token")
    started = time.monotonic()
    platform.admin(f"/v1/connectors/{connector['connector_id']}/suspend", {})
    refused: dict[str, float] = {}
    while len(refused) < len(booking_urls) and time.monotonic() - started < timeout:
        for url in booking_urls:
            if url not in refused and _status(url, token) == 401:
                refused[url] = round(time.monotonic() - started, 3)
        time.sleep(0.02)
    return [refused.get(url) for url in booking_urls]


def heard(logs: list[Path], timeout: float = 10.0) -> list[bool]:
    """Whether each booking replica's log says it dropped a suspended connector on the event
    (`principals.dropped`): a refusal alone could be the cache's TTL running out."""

    def dropped(log: Path) -> bool:
        for line in log.read_text(errors="replace").splitlines():
            if '"principals.dropped"' in line and "ConnectorSuspended" in line:
                entry = json.loads(line)
                if entry.get("event_type") == "ConnectorSuspended" and entry.get("dropped", 0):
                    return True
        return False

    deadline = time.monotonic() + timeout
    found = [dropped(log) for log in logs]
    while not all(found) and time.monotonic() < deadline:
        time.sleep(0.2)
        found = [dropped(log) for log in logs]
    return found
