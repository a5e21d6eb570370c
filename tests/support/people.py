"""People, staff and connectors registered through identity's HTTP API, and their tokens.

Tests reach identity as a partner platform would: the bootstrap admin token registers, the
token endpoint signs in. A password costs an argon2 hash at registration and at each sign-in,
so a person gets one only when the test signs them in.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests

PASSWORD = "synthetic-password-0001"
SCOPES = ["appointment:read", "appointment:write", "appointment:read-medical"]
TIMEOUT = 60


class IdentityClient:
    """identity's admin and token endpoints at `base`, as the bootstrap administrator."""

    def __init__(self, base: str, admin_token: str) -> None:
        self.base, self.admin_token = base, admin_token

    def admin_post(
        self, path: str, body: dict[str, Any], expect: tuple[int, ...] = (200, 201)
    ) -> dict[str, Any]:
        """POST as the bootstrap admin; the answer must have one of the `expect` statuses."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        r = requests.post(f"{self.base}{path}", json=body, headers=headers, timeout=TIMEOUT)
        assert r.status_code in expect, (path, r.status_code, r.text)
        return r.json()

    def token(self, form: dict[str, str]) -> str:
        """An access token from POST /oauth/token (the form must succeed)."""
        r = requests.post(f"{self.base}/oauth/token", data=form, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def client_token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        """A connector's client-credentials token, for `scope` (space-separated) if given."""
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return self.token({**form, "scope": scope} if scope else form)

    def person_token(
        self, principal_id: str, scope: str | None = None, password: str = PASSWORD
    ) -> str:
        """A person's password token, for `scope` if given."""
        form = {"grant_type": "password", "username": principal_id, "password": password}
        return self.token({**form, "scope": scope} if scope else form)

    def practitioner(self, specialty: str = "dermatology", password: str | None = PASSWORD) -> str:
        """A newly registered practitioner's id."""
        n = uuid.uuid4().hex[:8]
        body = {
            "given_name": "Dr",
            "family_name": f"Synthetic-{n}",
            "specialty": specialty,
            "email": f"dr-{n}@example.org",
        }
        return self.admin_post("/v1/practitioners", _with(body, password))["practitioner_id"]

    def patient(self, password: str | None = PASSWORD) -> str:
        """A newly registered patient's id."""
        n = uuid.uuid4().hex[:8]
        body = {
            "given_name": "Test",
            "family_name": f"Patient-{n}",
            "birth_date": "1990-01-01",
            "gender": "female",
            "email": f"pt-{n}@example.org",
            "phone": "+33600000000",
        }
        return self.admin_post("/v1/patients", _with(body, password))["patient_id"]

    def staff(self, role: str, password: str | None = PASSWORD) -> str:
        """A newly registered staff member's id (admin or investigator)."""
        body = {
            "role": role,
            "display_name": f"Staff {role}",
            "email": f"{role}-{uuid.uuid4().hex[:8]}@example.org",
        }
        return self.admin_post("/v1/staff", _with(body, password))["staff_id"]

    def connector(self, grants: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """A connector granted `scopes` by each practitioner in `grants`, with a token."""
        c = self.admin_post(
            "/v1/connectors",
            {
                "name": "Agenda Sync",
                "vendor": "Synthetic Vendor",
                "contact_email": "ops@example.org",
            },
        )
        for practitioner_id, scopes in (grants or {}).items():
            self.admin_post(
                f"/v1/practitioners/{practitioner_id}/grants",
                {"connector_id": c["connector_id"], "scopes": scopes},
            )
        c["token"] = self.client_token(c["client_id"], c["client_secret"])
        return c


def _with(body: dict[str, Any], password: str | None) -> dict[str, Any]:
    """The registration body, with a password only when the person will sign in."""
    return {**body, "password": password} if password else body
