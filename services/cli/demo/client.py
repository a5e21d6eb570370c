"""The demo's HTTP client: it uses only the services' public APIs, as a platform would."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

FHIR = "application/fhir+json"


class _FromAddress(HTTPAdapter):
    """Connects from one local address: each demo actor is its own client, as on a real
    network (detection links principals that share an address: ADR 0014)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def actor_session(address: str, agent: str) -> requests.Session:
    """A session for one actor: its own loopback address (127.0.0.0/8) and user agent."""
    session = requests.Session()
    adapter = _FromAddress(address)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = agent
    return session


class DemoError(RuntimeError):
    """A call the demo relies on answered something unexpected: stop loudly."""


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll until `check` is truthy; DemoError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise DemoError(f"timed out waiting for {what}")


@dataclass
class Platform:
    """Where the services answer, and the bootstrap admin token of this run."""

    identity: str
    booking: str
    audit: str
    admin_token: str
    session: requests.Session = field(default_factory=requests.Session)

    def _until_known(self, send: Any) -> requests.Response:
        """Booking learns people from identity's events, a moment after registration: retry."""
        deadline = time.monotonic() + 120
        while True:
            r = send()
            if r.status_code != 422 or "unknown" not in r.text or time.monotonic() > deadline:
                return r
            time.sleep(0.2)

    def _check(self, r: requests.Response, *ok: int) -> Any:
        if r.status_code not in ok:
            raise DemoError(f"{r.request.method} {r.url} -> {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None

    def _auth(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    # -- identity ---------------------------------------------------------------------------
    def admin(self, path: str, body: dict[str, Any]) -> Any:
        """POST to identity as the bootstrap admin."""
        r = self.session.post(
            f"{self.identity}{path}", json=body, headers=self._auth(None), timeout=60
        )
        return self._check(r, 200, 201)

    def admin_put(self, path: str, body: dict[str, Any]) -> Any:
        """PUT to identity as the bootstrap admin (a connector's quota, say)."""
        r = self.session.put(
            f"{self.identity}{path}", json=body, headers=self._auth(None), timeout=60
        )
        return self._check(r, 200)

    def client_token(
        self, client_id: str, secret: str, session: requests.Session | None = None
    ) -> str:
        """OAuth2 client credentials (a connector), from the connector's own session."""
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        r = (session or self.session).post(f"{self.identity}/oauth/token", data=form, timeout=60)
        return self._check(r, 200)["access_token"]

    def password_token(
        self, username: str, password: str, session: requests.Session | None = None
    ) -> str:
        """OAuth2 password grant (a person), from the person's own session."""
        form = {"grant_type": "password", "username": username, "password": password}
        r = (session or self.session).post(f"{self.identity}/oauth/token", data=form, timeout=60)
        return self._check(r, 200)["access_token"]

    # -- booking ----------------------------------------------------------------------------
    def open_slots(self, practitioner_id: str, body: dict[str, Any]) -> list[str]:
        """Open slots as the admin; the slot ids."""
        r = self._until_known(
            lambda: self.session.post(
                f"{self.booking}/v1/practitioners/{practitioner_id}/slots",
                json=body,
                headers=self._auth(None),
                timeout=60,
            )
        )
        return [s["slot_id"] for s in self._check(r, 201)["slots"]]

    def book(self, token: str | None, slot_id: str, patient_id: str, reason: str | None) -> str:
        """POST /fhir/Appointment with Prefer: return=minimal; the new appointment's id."""
        body: dict[str, Any] = {
            "resourceType": "Appointment",
            "status": "proposed",
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}
            ],
        }
        if reason:
            body["reasonCode"] = [{"text": reason}]
        r = self._until_known(
            lambda: self.session.post(
                f"{self.booking}/fhir/Appointment",
                json=body,
                timeout=60,
                headers={**self._auth(token), "Content-Type": FHIR, "Prefer": "return=minimal"},
            )
        )
        self._check(r, 201)
        return r.headers["Location"].rsplit("/", 1)[-1]

    def fhir_get(
        self, token: str, path: str, session: requests.Session | None = None
    ) -> requests.Response:
        """A raw GET on booking (the caller looks at the status itself)."""
        url = path if path.startswith("http") else f"{self.booking}{path}"
        return (session or self.session).get(url, headers=self._auth(token), timeout=60)

    # -- audit ------------------------------------------------------------------------------
    def audit_get(self, token: str, path: str, **params: Any) -> Any:
        """GET on audit as an investigator."""
        r = self.session.get(
            f"{self.audit}{path}", params=params, headers=self._auth(token), timeout=120
        )
        return self._check(r, 200)

    def audit_post(self, token: str, path: str, body: dict[str, Any]) -> Any:
        """POST on audit as an investigator."""
        r = self.session.post(
            f"{self.audit}{path}", json=body, headers=self._auth(token), timeout=120
        )
        return self._check(r, 200, 201)
