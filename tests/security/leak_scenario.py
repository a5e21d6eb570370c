"""The end-to-end run the leak scan looks at: everything a day of Carnet does, once.

Staff, a practitioner and a patient register with passwords and sign in; a connector registers,
is granted, fails a sign-in, signs in; slots open; the connector books with a reason for visit;
the patient reads it, the connector searches, a bad token is refused; the patient cancels (an
e-mail goes out for the booking and one for the cancellation); the connector's secret is
rotated, it reads outside its grants (eleven times: enumeration), audit's detection fires and
identity suspends it; audit verifies, an investigator opens an incident and the patient gets
the Art. 34 notice. Every password, secret and token the run handles, and every name, e-mail,
phone and birth date it creates, goes into `Needles`.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from services.cli.supervisor import Supervisor
from tests.security.leak_capture import Needles
from tests.support.poll import eventually
from tests.support.smtp_server import SmtpServer

FHIR = "application/fhir+json"
PATCH = {"Content-Type": "application/json-patch+json"}


# Events travel asynchronously between the services: polls wait up to this, every 0.3 s.
SETTLE = {"timeout": 90.0, "interval": 0.3}


class Client:
    """The run's HTTP calls, remembering every secret and token they handle."""

    def __init__(self, supervisor: Supervisor, needles: Needles, admin_token: str) -> None:
        self.url = {c.service: c.url for c in supervisor.children}
        self.needles, self.admin = needles, admin_token

    def call(
        self, method: str, service: str, path: str, token: str | None, **kw: Any
    ) -> requests.Response:
        """One request with a bearer token."""
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.url[service]}{path}"
        return requests.request(method, url, headers=headers, timeout=60, **kw)

    def ok(self, method: str, service: str, path: str, token: str | None, **kw: Any) -> Any:
        """One request that must succeed; its JSON body."""
        r = self.call(method, service, path, token, **kw)
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
        return r.json() if r.content else None

    def token(self, label: str, form: dict[str, str], status: int = 200) -> str | None:
        """POST /oauth/token; the token is remembered as a secret."""
        r = requests.post(f"{self.url['identity']}/oauth/token", data=form, timeout=60)
        assert r.status_code == status, r.text
        if status != 200:
            return None
        return self.needles.secret(f"token of {label}", r.json()["access_token"])

    def person(self, path: str, label: str, body: dict[str, Any]) -> tuple[str, str]:
        """Register a person with a password of their own; their id and a password token."""
        password = self.needles.secret(f"password of {label}", secrets.token_urlsafe(18))
        for key in ("given_name", "family_name", "display_name", "email", "phone", "birth_date"):
            if key in body:
                self.needles.person(f"{key} of {label}", body[key])
        created = self.ok("POST", "identity", path, self.admin, json={**body, "password": password})
        pid = next(v for k, v in created.items() if k.endswith("_id"))
        token = self.token(label, {"grant_type": "password", "username": pid, "password": password})
        assert token is not None
        return pid, token


def _people(c: Client, n: str) -> dict[str, tuple[str, str]]:
    """Staff, a practitioner and a patient, with distinctive synthetic names."""
    staff = [
        ("admin", "Ottoline Adminwright", "ow"),
        ("investigator", "Ignatius Sleuthborne", "is"),
    ]
    people = {
        role: c.person(
            "/v1/staff",
            role,
            {"role": role, "display_name": f"{name}{n}", "email": f"{short}{n}@staff.example"},
        )
        for role, name, short in staff
    }
    people["practitioner"] = c.person(
        "/v1/practitioners",
        "practitioner",
        {
            "given_name": "Perpetua",
            "family_name": f"Healwell{n}",
            "specialty": "dermatology",
            "email": f"ph{n}@clinic.example",
            "phone": "+33611223344",
        },
    )
    people["patient"] = c.person(
        "/v1/patients",
        "patient",
        {
            "given_name": "Ysolde",
            "family_name": f"Quarrington{n}",
            "birth_date": "1979-03-14",
            "gender": "female",
            "email": f"yq{n}@mail.example",
            "phone": "+33698765432",
            "preferred_language": "en",
        },
    )
    return people


def run(c: Client, smtp: SmtpServer) -> str:
    """Play the day; returns the reason for visit it booked with (sealed: never in clear)."""
    n, needles = uuid.uuid4().hex[:6], c.needles
    people = _people(c, n)
    (_, admin), (_, investigator) = people["admin"], people["investigator"]
    (practitioner_id, practitioner), (patient_id, patient) = (
        people["practitioner"],
        people["patient"],
    )
    contact = needles.person("connector contact e-mail", f"ops{n}@vendor.example")
    body = {"name": "Agenda Sync", "vendor": "Vendor", "contact_email": contact}
    connector = c.ok("POST", "identity", "/v1/connectors", admin, json=body)
    cid, secret = (
        connector["connector_id"],
        needles.secret("client secret", connector["client_secret"]),
    )
    grant = {"connector_id": cid, "scopes": ["appointment:read", "appointment:write"]}
    c.ok(
        "POST", "identity", f"/v1/practitioners/{practitioner_id}/grants", practitioner, json=grant
    )
    form = {"grant_type": "client_credentials", "client_id": connector["client_id"]}
    wrong = needles.secret("wrong client secret", secrets.token_urlsafe(24))
    c.token("wrong secret", {**form, "client_secret": wrong}, status=401)
    wrong = needles.secret("wrong password", secrets.token_urlsafe(18))
    c.token("bad", {"grant_type": "password", "username": patient_id, "password": wrong}, 400)
    connector_token = c.token("connector", {**form, "client_secret": secret})

    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, microsecond=0)
    opening = {"service_type": "consultation", "start": start.isoformat(), "duration_minutes": 20}
    opening["end"] = (start + timedelta(minutes=40)).isoformat()
    slots_path = f"/v1/practitioners/{practitioner_id}/slots"
    slots = eventually(
        lambda: (
            c.call("POST", "booking", slots_path, practitioner, json=opening).json().get("slots")
        ),
        what="booking to know the practitioner",
        **SETTLE,
    )
    reason = f"synthetic reason {n}: recurring migraine"
    appointment = {
        "resourceType": "Appointment",
        "status": "proposed",
        "slot": [{"reference": f"Slot/{slots[0]['slot_id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}],
        "reasonCode": [{"text": reason}],
    }

    def book() -> Any:
        r = c.call(
            "POST",
            "booking",
            "/fhir/Appointment",
            connector_token,
            json=appointment,
            headers={"Content-Type": FHIR},
        )
        return r.status_code == 201 and r.json()

    aid = eventually(book, what="booking to know the patient", **SETTLE)["id"]
    read = c.ok("GET", "booking", f"/fhir/Appointment/{aid}", patient)
    assert read["reasonCode"][0]["text"] == reason
    c.ok("GET", "booking", f"/fhir/Appointment?practitioner={practitioner_id}", connector_token)
    c.ok("GET", "booking", f"/fhir/Slot?practitioner={practitioner_id}", patient)
    bogus = needles.secret("bogus token", secrets.token_urlsafe(32))
    assert c.call("GET", "booking", "/fhir/Appointment", bogus).status_code == 401
    _mails(smtp, 1, needles.personal["email of patient"])  # the booking confirmation
    cancel = [{"op": "replace", "path": "/status", "value": "cancelled"}]
    c.ok("PATCH", "booking", f"/fhir/Appointment/{aid}", patient, json=cancel, headers=PATCH)
    _mails(smtp, 2, needles.personal["email of patient"])  # and the cancellation

    rotated = c.ok("POST", "identity", f"/v1/connectors/{cid}/rotate-secret", admin)
    secret = needles.secret("rotated client secret", rotated["client_secret"])
    token2 = c.token("connector after rotation", {**form, "client_secret": secret})
    c.ok("GET", "booking", f"/fhir/Appointment/{aid}", token2)
    # Reads outside its grants: one is for review, eleven in ten minutes are enumeration
    # (D4_outside_grants suspends above 10, docs/detection.md) and identity suspends it.
    for _ in range(11):
        outside = f"/fhir/Appointment?practitioner={uuid.uuid4()}"
        assert c.call("GET", "booking", outside, token2).status_code == 403
    eventually(
        lambda: c.call("GET", "booking", f"/fhir/Appointment/{aid}", token2).status_code == 401,
        what="detection to suspend the connector",
        **SETTLE,
    )
    _investigate(c, investigator, cid)
    _mails(smtp, 3, needles.personal["email of patient"])  # and the Art. 34 notice
    return reason


def _mails(smtp: SmtpServer, count: int, to: str) -> None:
    """Notification did send, through the real SMTP server, to the patient."""
    got = smtp.wait_for_messages(count, timeout=60)
    assert len(got) == count and all(str(m["To"]).endswith(to) for m in got), len(got)


def _investigate(c: Client, investigator: str, connector_id: str) -> None:
    """Audit's side: verify (as the investigator), an incident and its notices."""
    c.ok("GET", "audit", "/v1/audit/verify", investigator)
    eventually(
        lambda: (
            c.ok("GET", "audit", f"/v1/audit/accesses?connector={connector_id}", investigator)[
                "count"
            ]
            >= 3
        ),
        what="audit to index the connector's reads",
        **SETTLE,
    )
    now = datetime.now(UTC).isoformat()
    body = {
        "title": "leak scan",
        "connector_id": connector_id,
        "from": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "to": now,
        "aware_at": now,
    }
    incident = c.ok("POST", "audit", "/v1/audit/incidents?wait=true", investigator, json=body)
    c.ok("POST", "audit", f"/v1/audit/incidents/{incident['incident_id']}/notify", investigator)
