"""After the faults: a suspended connector is refused by every booking replica within a second.

Each replica first serves the connector (so its principal cache holds it), then identity
suspends it; each replica is polled until it answers 401. Every replica hears the suspension
on a queue of its own (`@consume_broadcast`), so the bound is the event's path, not the
cache's TTL.
"""

from __future__ import annotations

import time
import uuid

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
