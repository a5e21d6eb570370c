"""Identity and booking running in-process on a vhost of their own, talking over the real bus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import requests

from contracts.registry import REGISTRY
from tests.support.people import PASSWORD
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN, Stack


class World:
    """Identity (for tokens and directory events) and booking, plus any service in `extra`
    (name -> config); `booking_config` adds to booking's."""

    def __init__(
        self,
        database_url: str,
        amqp_uri: str,
        extra: dict[str, dict[str, Any]] | None = None,
        **booking_config: Any,
    ) -> None:
        config = {**(extra or {}), "booking": booking_config}
        self.stack = Stack(database_url, amqp_uri, {"identity", "booking", *config}, config)
        self.database_url, self.amqp_uri = database_url, amqp_uri
        self.identity, self.base = self.stack.url("identity"), self.stack.url("booking")
        self.people, self.pool = self.stack.identity, self.stack.pool

    def start(self) -> World:
        self.stack.start()
        return self

    def close(self) -> None:
        self.stack.close()

    # -- identity ---------------------------------------------------------------------------
    def admin_post(self, path: str, body: Any) -> dict[str, Any]:
        return self.people.admin_post(path, body)

    def practitioner(self, specialty: str = "dermatology") -> str:
        pid = self.people.practitioner(specialty)
        eventually(lambda: self._in_directory("practitioners", pid), what="practitioner in booking")
        return pid

    def patient(self, password: str | None = PASSWORD) -> str:
        """A patient booking knows; without a password, no argon2 hash to wait for."""
        pid = self.people.patient(password)
        eventually(lambda: self._in_directory("patients", pid), what="patient in booking")
        return pid

    def connector(self, grants: dict[str, list[str]]) -> dict[str, Any]:
        """A connector granted `scopes` by each practitioner in `grants`, with a token."""
        return self.people.connector(grants)

    def client_token(self, client_id: str, secret: str) -> str:
        return self.people.client_token(client_id, secret)

    def person_token(self, principal_id: str, scope: str | None = None) -> str:
        return self.people.person_token(principal_id, scope)

    def _in_directory(self, table: str, principal_id: str) -> bool:
        column = "patient_id" if table == "patients" else "practitioner_id"
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT 1 FROM booking.{table} WHERE {column} = %s", (principal_id,)
            ).fetchone()
        return row is not None

    # -- booking ----------------------------------------------------------------------------
    def request(self, method: str, path: str, token: str | None, **kw: Any) -> requests.Response:
        return self.stack.request("booking", method, path, token, **kw)

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
