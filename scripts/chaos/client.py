"""A connector's HTTP client that retries the way practice software would when Carnet fails.

Connection errors, timeouts, 5xx and 401 (a new token is fetched) are retried with capped
backoff until a definitive answer or the deadline; the caller learns how many attempts it
took, because an answer after a retry may be about an earlier attempt that did commit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

FHIR = "application/fhir+json"
PATCH = "application/json-patch+json"
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
REQUEST_TIMEOUT_S = 20.0


class Unresolved(RuntimeError):
    """No definitive answer before the deadline: the outcome stays unknown."""


@dataclass
class Answer:
    """The definitive response and how many attempts it took."""

    response: requests.Response
    attempts: int

    @property
    def status(self) -> int:
        """HTTP status of the definitive response."""
        return self.response.status_code

    def json(self) -> Any:
        """The body as JSON."""
        return self.response.json()


@dataclass
class Credentials:
    """The connector's client credentials and its current token, shared by the workers."""

    identity: str
    client_id: str
    client_secret: str
    token: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, stale: str, deadline: float, statuses: Counter[str]) -> str:
        """A new token unless another worker already replaced the stale one."""
        with self.lock:
            if self.token and self.token != stale:
                return self.token
            form = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
            attempt = 0
            while True:
                attempt += 1
                try:
                    r = requests.post(
                        f"{self.identity}/oauth/token", data=form, timeout=REQUEST_TIMEOUT_S
                    )
                    statuses[f"token {r.status_code}"] += 1
                    if r.status_code == 200:
                        self.token = r.json()["access_token"]
                        return self.token
                    if r.status_code not in RETRIED_STATUSES:
                        raise Unresolved(f"token refused: {r.status_code} {r.text[:200]}")
                except requests.RequestException as exc:
                    statuses[f"token {type(exc).__name__}"] += 1
                _pause(attempt, deadline)


def _pause(attempt: int, deadline: float) -> None:
    """Capped exponential backoff; Unresolved once the deadline has passed."""
    if time.monotonic() > deadline:
        raise Unresolved(f"no definitive answer after {attempt} attempts")
    time.sleep(min(2.0, 0.1 * 2 ** min(attempt, 5)))


class Client:
    """One worker's session against booking, with the shared connector credentials."""

    def __init__(self, booking: str, credentials: Credentials, deadline_s: float) -> None:
        self.booking, self.credentials, self.deadline_s = booking, credentials, deadline_s
        self.session = requests.Session()
        self.statuses: Counter[str] = Counter()

    def send(self, method: str, path: str, body: Any = None, content_type: str = FHIR) -> Answer:
        """Send until a definitive answer (2xx, or a 4xx other than 401)."""
        deadline = time.monotonic() + self.deadline_s
        attempt = 0
        while True:
            attempt += 1
            token = self.credentials.token
            headers = {"Authorization": f"Bearer {token}"}
            if body is not None:
                headers["Content-Type"] = content_type
            try:
                r = self.session.request(
                    method,
                    f"{self.booking}{path}",
                    json=body,
                    headers=headers,
                    timeout=REQUEST_TIMEOUT_S,
                )
            except requests.RequestException as exc:
                self.statuses[type(exc).__name__] += 1
                self.session = requests.Session()  # a dead keep-alive connection goes with it
                _pause(attempt, deadline)
                continue
            self.statuses[str(r.status_code)] += 1
            if r.status_code == 401:  # expired or revoked: ask for a new token, then again
                self.credentials.refresh(token, deadline, self.statuses)
                _pause(attempt, deadline)
                continue
            if r.status_code in RETRIED_STATUSES:
                _pause(attempt, deadline)
                continue
            return Answer(r, attempt)
