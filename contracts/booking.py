"""Events of the booking service: slots, appointments, and every read of an appointment."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import (
    ADMINISTRATIVE,
    SENSITIVE,
    IPAddress,
    Nested,
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
ACCESS_PURPOSES = ("care", "agenda_sync", "patient_self_service", "investigation", "support")


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


@REGISTRY.event(SERVICE, "AppointmentsAccessed", 1, "appointments.accessed")
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


__all__ = [
    "ACCESS_OPERATIONS",
    "ACCESS_PURPOSES",
    "CANCELLATION_REASONS",
    "EXCHANGE",
    "SERVICE",
    "AppointmentBookedV1",
    "AppointmentCancelledV1",
    "AppointmentRescheduledV1",
    "AppointmentsAccessedV1",
    "SlotV1",
    "SlotsOpenedV1",
]
