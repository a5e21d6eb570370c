"""Events of the booking service: slots, appointments, and every read of an appointment."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import (
    ADMINISTRATIVE,
    FIELD_CLASSES,
    SENSITIVE,
    IPAddress,
    Nested,
    Unique,
    encrypted,
    field_classes,
    uuid_list,
)
from contracts.registry import REGISTRY

SERVICE = "booking"
EXCHANGE = f"{SERVICE}.events"

CANCELLATION_REASONS = (
    "patient_request",
    "practitioner_unavailable",
    "no_show",
    "connector_sync",
    "other",
)
ACCESS_OPERATIONS = ("read", "search", "export")
ACCESS_OPERATIONS_V2 = ("read", "search", "export", "create", "update")
ACCESS_PURPOSES = ("care", "agenda_sync", "patient_self_service", "investigation", "support")
ACCESS_OUTCOMES = ("success", "denied")
ACCESSOR_KINDS = ("connector", "practitioner", "patient", "staff", "service", "unknown")
STATUS_CHANGES = ("arrived", "fulfilled", "noshow")
APPOINTMENT_STATUSES = ("booked", "arrived", "fulfilled", "cancelled", "noshow")
RELEASE_CAUSES = ("cancelled", "rescheduled")


def _when() -> fields.AwareDateTime:
    """An appointment time: aware, so that no reader guesses the zone."""
    return fields.AwareDateTime(required=True, metadata=ADMINISTRATIVE)


def _service_type() -> fields.String:
    """A service type (e.g. "dermatology consultation"): sensitive, it hints at a condition."""
    return fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata=SENSITIVE
    )


class SlotV1(Schema):
    """One bookable interval of a practitioner's schedule."""

    slot_id = fields.UUID(required=True)
    start = _when()
    end = _when()

    @validates_schema
    def _ends_after_start(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A slot that ends before it starts would corrupt every availability search."""
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("end must be after start", field_name="end")


@REGISTRY.event(SERVICE, "SlotsOpened", 1, "slots.opened")
class SlotsOpenedV1(Schema):
    """A practitioner opened bookable slots for one service type."""

    schedule_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    service_type = _service_type()
    slots = fields.List(Nested(SlotV1), required=True, validate=validate.Length(min=1))


@REGISTRY.event(SERVICE, "AppointmentBooked", 1, "appointment.booked")
class AppointmentBookedV1(Schema):
    """A patient holds a slot; the reason for visit is sealed with the patient's key."""

    appointment_id = fields.UUID(required=True)
    slot_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    start = _when()
    end = _when()
    service_type = _service_type()
    reason = encrypted(required=True, allow_none=True)
    booked_by = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)


@REGISTRY.event(SERVICE, "AppointmentRescheduled", 1, "appointment.rescheduled")
class AppointmentRescheduledV1(Schema):
    """An appointment moved to another slot; the previous time is kept for the notice."""

    appointment_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    previous_slot_id = fields.UUID(required=True)
    previous_start = _when()
    slot_id = fields.UUID(required=True)
    start = _when()
    end = _when()
    rescheduled_by = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)


@REGISTRY.event(SERVICE, "AppointmentCancelled", 1, "appointment.cancelled")
class AppointmentCancelledV1(Schema):
    """An appointment will not happen; a free-text note is medical, hence sealed."""

    appointment_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    slot_id = fields.UUID(required=True)
    start = _when()
    reason_code = fields.String(required=True, validate=validate.OneOf(CANCELLATION_REASONS))
    note = encrypted(required=True, allow_none=True)
    cancelled_by = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)


# A page of up to 100 appointments, each with its patient and practitioner, and a 2,000-character
# query: about 30 KB at most; four times that before a consumer refuses one.
ACCESS_MAX_BYTES = 128 * 1024


@REGISTRY.event(SERVICE, "AppointmentsAccessed", 1, "appointments.accessed", ACCESS_MAX_BYTES)
class AppointmentsAccessedV1(Schema):
    """Who read which appointments of which patients, which data classes, from where, why."""

    access_id = fields.UUID(required=True)
    principal_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)
    network_address = fields.String(required=True, validate=IPAddress())
    request_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    operation = fields.String(required=True, validate=validate.OneOf(ACCESS_OPERATIONS))
    purpose = fields.String(required=True, validate=validate.OneOf(ACCESS_PURPOSES))
    appointment_ids = uuid_list(required=True)
    patient_ids = uuid_list(required=True)
    field_classes = field_classes(required=True)


class AccessedEntryV1(Schema):
    """One appointment returned, with its patient and practitioner (IHE BALP: per patient)."""

    appointment_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "AppointmentsAccessed", 2, "appointments.accessed", ACCESS_MAX_BYTES)
class AppointmentsAccessedV2(Schema):
    """V1 plus what an investigator needs to replay a read: who (kind), the query as received,
    the client software, whether medical fields were decrypted, and refusals (outcome denied).
    """

    access_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCESSOR_KINDS))
    principal_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)
    network_address = fields.String(required=True, validate=IPAddress())
    user_agent = fields.String(required=True, allow_none=True, validate=validate.Length(max=500))
    request_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    operation = fields.String(required=True, validate=validate.OneOf(ACCESS_OPERATIONS_V2))
    query = fields.String(required=True, validate=validate.Length(max=2000))
    purpose = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(ACCESS_PURPOSES)
    )
    appointment_ids = uuid_list(required=True)
    patient_ids = uuid_list(required=True)
    practitioner_ids = uuid_list(required=True)
    # Which patient each returned appointment belongs to: an index by patient needs the pairs.
    entries = fields.List(Nested(AccessedEntryV1), required=True)
    # Empty when nothing was returned (a refusal, an empty page).
    field_classes = fields.List(
        fields.String(validate=validate.OneOf(FIELD_CLASSES)),
        required=True,
        validate=[validate.Length(max=len(FIELD_CLASSES)), Unique()],
    )
    medical_decrypted = fields.Boolean(required=True)
    result_count = fields.Integer(required=True, validate=validate.Range(min=0))
    outcome = fields.String(required=True, validate=validate.OneOf(ACCESS_OUTCOMES))
    denial_reason = fields.String(required=True, allow_none=True, validate=validate.Length(max=500))


@REGISTRY.upcaster("AppointmentsAccessed", from_version=1)
def appointments_accessed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """V1 records were successful reads; what they did not say is marked unknown, not guessed."""
    return {
        **payload,
        "principal_kind": "connector" if payload.get("connector_id") else "unknown",
        "user_agent": None,
        "query": "",
        "practitioner_ids": [],
        "entries": [],
        "medical_decrypted": "medical" in payload.get("field_classes", []),
        "result_count": len(payload.get("appointment_ids", [])),
        "outcome": "success",
        "denial_reason": None,
    }


@REGISTRY.event(SERVICE, "SlotHeld", 1, "slot.held")
class SlotHeldV1(Schema):
    """A slot is taken by an appointment: the slot's own stream makes double booking impossible."""

    slot_id = fields.UUID(required=True)
    appointment_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "SlotReleased", 1, "slot.released")
class SlotReleasedV1(Schema):
    """A slot is free again because its appointment was cancelled or moved."""

    slot_id = fields.UUID(required=True)
    appointment_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    cause = fields.String(required=True, validate=validate.OneOf(RELEASE_CAUSES))


@REGISTRY.event(SERVICE, "AppointmentStatusChanged", 1, "appointment.status_changed")
class AppointmentStatusChangedV1(Schema):
    """The patient arrived, was seen, or did not come (FHIR arrived, fulfilled, noshow)."""

    appointment_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUS_CHANGES))
    previous_status = fields.String(required=True, validate=validate.OneOf(APPOINTMENT_STATUSES))
    changed_by = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)


@REGISTRY.event(SERVICE, "PatientMedicalKeyDestroyed", 1, "patient_key.destroyed")
class PatientMedicalKeyDestroyedV1(Schema):
    """A patient's data key is gone: every sealed medical field of theirs is unreadable."""

    patient_id = fields.UUID(required=True)
    key_id = fields.String(required=True, allow_none=True, validate=validate.Length(max=200))
    destroyed_by = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


__all__ = [
    "ACCESSOR_KINDS",
    "ACCESS_OPERATIONS",
    "ACCESS_OPERATIONS_V2",
    "ACCESS_OUTCOMES",
    "ACCESS_PURPOSES",
    "APPOINTMENT_STATUSES",
    "CANCELLATION_REASONS",
    "EXCHANGE",
    "RELEASE_CAUSES",
    "SERVICE",
    "STATUS_CHANGES",
    "AppointmentBookedV1",
    "AppointmentCancelledV1",
    "AppointmentRescheduledV1",
    "AppointmentStatusChangedV1",
    "AppointmentsAccessedV1",
    "AppointmentsAccessedV2",
    "PatientMedicalKeyDestroyedV1",
    "SlotHeldV1",
    "SlotReleasedV1",
    "SlotV1",
    "SlotsOpenedV1",
]
