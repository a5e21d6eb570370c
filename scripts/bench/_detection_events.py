"""The events the detection bench feeds the engine, shaped as booking and identity produce them:
AppointmentsAccessed V3 (successes, refusals with targets, 401s with a token fingerprint, 429s),
appointment changes, grants, vendors and trust. Ids are synthetic (uuid4, names "bench-...").

Every event's payload is checked against its contract for the first few of each kind (the
rest are the same shape; the full marshmallow check would cost more than detection itself).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.registry import REGISTRY

PRODUCER = {
    "AppointmentsAccessed": "booking",
    "AppointmentBooked": "booking",
    "AppointmentRescheduled": "booking",
    "AppointmentCancelled": "booking",
    "AppointmentStatusChanged": "booking",
}
CHECKED_PER_TYPE = 25
VISIT = timedelta(minutes=20)
SYSTEM = UUID("00000000-0000-4000-8000-00000000be4c")  # who granted, trusted, booked


@dataclass(frozen=True)
class BenchEvent:
    """What the engine reads of a consumed event (services.common.consumed.ConsumedEvent)."""

    event_id: UUID
    event_type: str
    occurred_at: str
    correlation_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Appt:
    """One appointment of the synthetic world."""

    appointment_id: UUID
    practitioner_id: UUID
    patient_id: UUID
    start: datetime


@dataclass
class Events:
    """Builds events; validates the first few of each type against the registry."""

    checked: Counter = field(default_factory=Counter)

    def make(self, event_type: str, data: dict[str, Any], at: datetime) -> BenchEvent:
        """One event at simulated time `at` (its occurred_at: detection works in event time)."""
        if self.checked[event_type] < CHECKED_PER_TYPE:
            self.checked[event_type] += 1
            REGISTRY.dump_payload(event_type, data)  # raises on any contract violation
        return BenchEvent(uuid.uuid4(), event_type, at.isoformat(), "bench", data)

    def booked(self, a: Appt, at: datetime) -> BenchEvent:
        """Booking: a patient holds a slot."""
        return self.make(
            "AppointmentBooked",
            {
                "appointment_id": str(a.appointment_id),
                "slot_id": str(uuid.uuid4()),
                "practitioner_id": str(a.practitioner_id),
                "patient_id": str(a.patient_id),
                "start": a.start.isoformat(),
                "end": (a.start + VISIT).isoformat(),
                "service_type": "consultation",
                "reason": None,
                "booked_by": str(SYSTEM),
                "connector_id": None,
            },
            at,
        )

    def rescheduled(self, a: Appt, previous: datetime, at: datetime) -> BenchEvent:
        """Booking: the appointment moved (a change a delta sync picks up)."""
        return self.make(
            "AppointmentRescheduled",
            {
                "appointment_id": str(a.appointment_id),
                "practitioner_id": str(a.practitioner_id),
                "patient_id": str(a.patient_id),
                "previous_slot_id": str(uuid.uuid4()),
                "previous_start": previous.isoformat(),
                "slot_id": str(uuid.uuid4()),
                "start": a.start.isoformat(),
                "end": (a.start + VISIT).isoformat(),
                "rescheduled_by": str(SYSTEM),
                "connector_id": None,
            },
            at,
        )

    def registered(
        self, connector: UUID, vendor: str, at: datetime, contact: str | None = None
    ) -> BenchEvent:
        """Identity: a connector exists, with its vendor and its registrant's contact (by
        default one per vendor: a vendor registers its own connectors)."""
        slug = "".join(ch for ch in vendor.lower() if ch.isalnum()) or "vendor"
        return self.make(
            "ConnectorRegistered",
            {
                "connector_id": str(connector),
                "client_id": f"bench-{connector.hex[:8]}",
                "name": f"bench connector {connector.hex[:8]}",
                "vendor": vendor,
                "contact_email": contact or f"ops@{slug}.example.org",
                "registered_by": str(SYSTEM),
            },
            at,
        )

    def granted(self, connector: UUID, practitioner: UUID, at: datetime) -> BenchEvent:
        """Identity: a practitioner grants the connector read access to their agenda."""
        return self.make(
            "ConnectorAuthorized",
            {
                "grant_id": str(uuid.uuid4()),
                "connector_id": str(connector),
                "practitioner_id": str(practitioner),
                "operations": ["read"],
                "field_classes": ["administrative"],
                "granted_by": str(practitioner),
                "expires_at": None,
            },
            at,
        )

    def revoked(self, connector: UUID, practitioner: UUID, at: datetime) -> BenchEvent:
        """Identity: the grant is gone."""
        return self.make(
            "ConnectorAuthorizationRevoked",
            {
                "grant_id": str(uuid.uuid4()),
                "connector_id": str(connector),
                "practitioner_id": str(practitioner),
                "revoked_by": str(practitioner),
            },
            at,
        )

    def trusted(self, principal: UUID, kind: str, until: datetime, at: datetime) -> BenchEvent:
        """Identity: an operator vouches for the principal during a planned migration."""
        return self.make(
            "PrincipalTrusted",
            {
                "principal_id": str(principal),
                "principal_kind": kind,
                "until": until.isoformat(),
                "reason": "planned migration (bench)",
                "trusted_by": str(SYSTEM),
            },
            at,
        )

    def accessed(
        self,
        principal: UUID | None,
        kind: str,
        at: datetime,
        address: str,
        agent: str | None,
        served: tuple[Appt, ...] = (),
        denial: str | None = None,
        targets: tuple[Appt, ...] = (),
        query: str = "GET /fhir/Appointment",
        fingerprint: str | None = None,
    ) -> BenchEvent:
        """Booking: an access record, as committed before any data leaves (or a refusal)."""
        denied = denial is not None
        entries = [
            {
                "appointment_id": str(a.appointment_id),
                "patient_id": str(a.patient_id),
                "practitioner_id": str(a.practitioner_id),
            }
            for a in (targets if denied else served)
        ]
        data = {
            "access_id": str(uuid.uuid4()),
            "principal_kind": kind,
            "principal_id": str(principal) if principal else None,
            "connector_id": str(principal) if kind == "connector" and principal else None,
            "network_address": address,
            "user_agent": agent,
            "request_id": f"bench-{uuid.uuid4().hex[:12]}",
            "operation": "search" if query.startswith("GET /fhir/Appointment?") else "read",
            "query": query,
            "purpose": "agenda_sync" if kind == "connector" else None,
            "appointment_ids": [] if denied else [e["appointment_id"] for e in entries],
            "patient_ids": [] if denied else sorted({e["patient_id"] for e in entries}),
            "practitioner_ids": [] if denied else sorted({e["practitioner_id"] for e in entries}),
            "entries": [] if denied else entries,
            "field_classes": [] if denied or not entries else ["administrative"],
            "medical_decrypted": False,
            "result_count": 0 if denied else len(entries),
            "outcome": "denied" if denied else "success",
            "denial_reason": DENIAL_REASONS.get(denial or "") if denied else None,
            "token_fingerprint": fingerprint,
            "denial_code": denial,
            "targets": entries if denied else [],
        }
        return self.make("AppointmentsAccessed", data, at)


DENIAL_REASONS = {
    "reach": "outside your reach",
    "not_found": "no such appointment",
    "quota": "read quota exhausted; retry later",
    "unauthenticated": "the bearer token is not valid",
    "forbidden": "not allowed",
}
