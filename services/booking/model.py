"""Plain records the booking modules pass each other: read-model rows and directory cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

# FHIR R4 Appointment.status values this service writes.
STATUSES = ("booked", "arrived", "fulfilled", "cancelled", "noshow")
# Status changes a client may ask for with a JSON Patch on /status.
NEXT_STATUSES = {
    "booked": ("arrived", "cancelled", "noshow"),
    "arrived": ("fulfilled", "cancelled"),
    "fulfilled": (),
    "cancelled": (),
    "noshow": (),
}


@dataclass(frozen=True)
class PatientCard:
    """What booking keeps of a patient (from identity's PatientRegistered): administrative."""

    patient_id: UUID
    given_name: str
    family_name: str
    birth_date: date
    gender: str
    email: str | None
    phone: str | None
    preferred_language: str


@dataclass(frozen=True)
class PractitionerCard:
    """What booking keeps of a practitioner; the specialty is sensitive."""

    practitioner_id: UUID
    given_name: str
    family_name: str
    specialty: str


@dataclass(frozen=True)
class SlotRow:
    """One slot of the slots view; `appointment_id` is set while it is held."""

    slot_id: UUID
    schedule_id: UUID
    practitioner_id: UUID
    start: datetime
    end: datetime
    service_type: str
    appointment_id: UUID | None
    updated_at: datetime | None = None  # opened, held or released last (meta.lastUpdated)


@dataclass(frozen=True)
class AppointmentRow:
    """One appointment of the appointments view; medical fields are still sealed blobs."""

    appointment_id: UUID
    version: int
    slot_id: UUID
    practitioner_id: UUID
    patient_id: UUID
    start: datetime
    end: datetime
    status: str
    service_type: str
    reason: dict[str, Any] | None
    note: dict[str, Any] | None
    booked_by: UUID
    connector_id: UUID | None
    updated_at: datetime


@dataclass(frozen=True)
class MedicalText:
    """An appointment's medical fields in clear, for a caller holding the medical scope.

    `unreadable` is True when the patient's key was destroyed (crypto-shredding): the fields
    existed but can no longer be read by anyone.
    """

    reason: str | None
    note: str | None
    unreadable: bool = False
