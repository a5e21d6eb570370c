"""Identity and booking running in-process on a vhost of their own, talking over the real bus."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests
from nameko.runners import ServiceRunner
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.booking.crypto import generate_master_key_b64
from services.booking.service import BookingService
from services.identity.service import IdentityService
from tests.support.poll import eventually
from tests.support.ports import free_port

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
PASSWORD = "synthetic-password-0001"
SCOPES = ["appointment:read", "appointment:write", "appointment:read-medical"]


class World:
    """Identity (for tokens and directory events) and booking, each in its own runner."""

    def __init__(self, database_url: str, amqp_uri: str, **booking_config: Any) -> None:
        self.database_url, self.amqp_uri, self.logs = database_url, amqp_uri, io.StringIO()
        self.identity_port, self.booking_port = free_port(), free_port()
        self.identity = f"http://127.0.0.1:{self.identity_port}"
        self.base = f"http://127.0.0.1:{self.booking_port}"
        common = {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url}
        self.identity_runner = ServiceRunner(
            {
                **common,
                "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.identity_port}",
                "CARNET_ADMIN_TOKEN": ADMIN_TOKEN,
            }
        )
        self.identity_runner.add_service(IdentityService)
        self.booking_runner = ServiceRunner(
            {
                **common,
                "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.booking_port}",
                "BOOKING_MASTER_KEY": generate_master_key_b64(),
                **booking_config,
            }
        )
        self.booking_runner.add_service(BookingService)
        self.pool = ConnectionPool(database_url, min_size=1, max_size=4)

    def start(self) -> World:
        self.booking_runner.start()  # its queues exist before identity publishes anything
        self.identity_runner.start()
        return self

    def close(self) -> None:
        self.identity_runner.stop()
        self.booking_runner.stop()
        self.pool.close()

    # -- identity ---------------------------------------------------------------------------
    def admin_post(self, path: str, body: Any) -> dict[str, Any]:
        r = requests.post(
            f"{self.identity}{path}",
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
        return r.json()

    def practitioner(self, specialty: str = "dermatology") -> str:
        n = uuid.uuid4().hex[:8]
        p = self.admin_post(
            "/v1/practitioners",
            {
                "given_name": "Dr",
                "family_name": f"Synthetic-{n}",
                "specialty": specialty,
                "email": f"dr-{n}@example.org",
                "password": PASSWORD,
            },
        )
        pid = p["practitioner_id"]
        eventually(lambda: self._in_directory("practitioners", pid), what="practitioner in booking")
        return pid

    def patient(self) -> str:
        n = uuid.uuid4().hex[:8]
        p = self.admin_post(
            "/v1/patients",
            {
                "given_name": "Test",
                "family_name": f"Patient-{n}",
                "birth_date": "1990-01-01",
                "gender": "female",
                "email": f"pt-{n}@example.org",
                "phone": "+33600000000",
                "password": PASSWORD,
            },
        )
        pid = p["patient_id"]
        eventually(lambda: self._in_directory("patients", pid), what="patient in booking")
        return pid

    def connector(self, grants: dict[str, list[str]]) -> dict[str, Any]:
        """A connector granted `scopes` by each practitioner in `grants`, with a token."""
        c = self.admin_post(
            "/v1/connectors",
            {
                "name": "Agenda Sync",
                "vendor": "Synthetic Vendor",
                "contact_email": "ops@example.org",
            },
        )
        for practitioner_id, scopes in grants.items():
            self.admin_post(
                f"/v1/practitioners/{practitioner_id}/grants",
                {"connector_id": c["connector_id"], "scopes": scopes},
            )
        c["token"] = self.client_token(c["client_id"], c["client_secret"])
        return c

    def client_token(self, client_id: str, secret: str) -> str:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        r = requests.post(f"{self.identity}/oauth/token", data=form, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def person_token(self, principal_id: str, scope: str | None = None) -> str:
        form = {"grant_type": "password", "username": principal_id, "password": PASSWORD}
        if scope:
            form["scope"] = scope
        r = requests.post(f"{self.identity}/oauth/token", data=form, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def _in_directory(self, table: str, principal_id: str) -> bool:
        column = "patient_id" if table == "patients" else "practitioner_id"
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT 1 FROM booking.{table} WHERE {column} = %s", (principal_id,)
            ).fetchone()
        return row is not None

    # -- booking ----------------------------------------------------------------------------
    def request(self, method: str, path: str, token: str | None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kw)

    def open_slots(
        self,
        practitioner_id: str,
        count: int = 4,
        days_ahead: int = 3,
        service_type: str = "consultation",
    ) -> list[str]:
        start = (datetime.now(UTC) + timedelta(days=days_ahead)).replace(
            minute=0, second=0, microsecond=0
        )
        body = {
            "service_type": service_type,
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=20 * count)).isoformat(),
            "duration_minutes": 20,
        }
        r = self.request(
            "POST", f"/v1/practitioners/{practitioner_id}/slots", ADMIN_TOKEN, json=body
        )
        assert r.status_code == 201, r.text
        return [s["slot_id"] for s in r.json()["slots"]]

    def book(
        self, token: str, slot_id: str, patient_id: str, reason: str | None = "synthetic reason"
    ) -> requests.Response:
        body: dict[str, Any] = {
            "resourceType": "Appointment",
            "status": "proposed",  # FHIR app-3: a booked Appointment must carry start and end
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}
            ],
        }
        if reason is not None:
            body["reasonCode"] = [{"text": reason}]
        return self.request(
            "POST",
            "/fhir/Appointment",
            token,
            json=body,
            headers={"Content-Type": "application/fhir+json"},
        )

    def access_records(self) -> dict[str, dict[str, Any]]:
        """Every committed AppointmentsAccessed payload, by access id, each checked against
        its contract (the recorder builds records by hand, for speed)."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT schema_version, data FROM booking.events"
                " WHERE event_type = 'AppointmentsAccessed'"
            ).fetchall()
        for version, data in rows:
            REGISTRY.validate_for_publish("AppointmentsAccessed", data, version)
        return {data["access_id"]: data for _, data in rows}
