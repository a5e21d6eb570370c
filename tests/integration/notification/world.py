"""Producers for notification tests: real identity/booking/audit stores and relays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from tests.contract.examples import EXAMPLES
from tests.support.relays import RelayThreads


class World:
    """Appends events as identity, booking and audit would; their relays publish them."""

    def __init__(self, database_url: str, amqp_uri: str) -> None:
        self.database_url, self.amqp_uri = database_url, amqp_uri
        self.pool = ConnectionPool(database_url, min_size=1, max_size=6)
        self.stores = {s: EventStore(self.pool, s) for s in ("identity", "booking", "audit")}
        self.relays = RelayThreads(database_url, amqp_uri)

    def start(self) -> World:
        self.relays.start(self.stores.items())
        return self

    def restart_relays(self) -> None:
        """New relays, as after a crash: a relay reads its saved position only as it starts."""
        self.relays.close()
        self.relays = RelayThreads(self.database_url, self.amqp_uri)
        self.start()

    def close(self) -> None:
        self.relays.close()
        self.pool.close()

    def emit(self, service: str, stream: str, event_type: str, payload: dict[str, Any]) -> NewEvent:
        event = NewEvent(
            event_id=uuid.uuid4(),
            event_type=event_type,
            schema_version=REGISTRY.latest_version(event_type),
            data=REGISTRY.dump_payload(event_type, payload),
            metadata={"correlation_id": f"corr-{uuid.uuid4().hex[:8]}"},
        )
        self.stores[service].append(stream, [event], expected_version=None)
        return event

    # -- identity ---------------------------------------------------------------------------
    def patient(
        self,
        language: str = "en",
        email: str | None = "test.patient@example.org",
        phone: str | None = None,
        given: str = "Test",
    ) -> str:
        pid = str(uuid.uuid4())
        payload = {
            **EXAMPLES["PatientRegistered"],
            "patient_id": pid,
            "given_name": given,
            "preferred_language": language,
            "email": email,
            "phone": phone,
        }
        self.emit("identity", f"patient-{pid}", "PatientRegistered", payload)
        return pid

    def practitioner(self, family: str = "Practitioner") -> str:
        prid = str(uuid.uuid4())
        payload = {
            **EXAMPLES["PractitionerRegistered"],
            "practitioner_id": prid,
            "family_name": family,
        }
        self.emit("identity", f"practitioner-{prid}", "PractitionerRegistered", payload)
        return prid

    # -- booking ----------------------------------------------------------------------------
    def book(self, patient: str, practitioner: str, start: datetime) -> str:
        aid = str(uuid.uuid4())
        payload = {
            **EXAMPLES["AppointmentBooked"],
            "appointment_id": aid,
            "patient_id": patient,
            "practitioner_id": practitioner,
            "booked_by": patient,
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=20)).isoformat(),
        }
        self.emit("booking", f"appointment-{aid}", "AppointmentBooked", payload)
        return aid

    def reschedule(
        self, aid: str, patient: str, practitioner: str, old: datetime, new: datetime
    ) -> None:
        payload = {
            **EXAMPLES["AppointmentRescheduled"],
            "appointment_id": aid,
            "patient_id": patient,
            "practitioner_id": practitioner,
            "previous_start": old.isoformat(),
            "start": new.isoformat(),
            "end": (new + timedelta(minutes=20)).isoformat(),
        }
        self.emit("booking", f"appointment-{aid}", "AppointmentRescheduled", payload)

    def cancel(self, aid: str, patient: str, practitioner: str) -> None:
        payload = {
            **EXAMPLES["AppointmentCancelled"],
            "appointment_id": aid,
            "patient_id": patient,
            "practitioner_id": practitioner,
        }
        self.emit("booking", f"appointment-{aid}", "AppointmentCancelled", payload)

    # -- audit ------------------------------------------------------------------------------
    def breach_request(self, incident: str, patient: str, appointments: list[str]) -> None:
        now = datetime.now(UTC)
        payload = {
            **EXAMPLES["BreachNotificationRequested"],
            "request_id": str(uuid.uuid4()),
            "incident_id": incident,
            "patient_id": patient,
            "appointment_ids": appointments,
            "field_classes": ["administrative"],
            "first_access_at": (now - timedelta(hours=2)).isoformat(),
            "last_access_at": (now - timedelta(hours=1)).isoformat(),
        }
        self.emit("audit", f"incident-{incident}", "BreachNotificationRequested", payload)
