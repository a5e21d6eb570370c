"""Bodies of booking's HTTP interface: /v1 ones as marshmallow schemas (validated and
documented from the same class), FHIR ones as components pointing at the R4 specification
(fhir_input.py parses them; fhir.resources validates what booking serves)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.booking.domain.slots import MAX_SLOTS_PER_OPENING
from services.booking.fhir_search import SLOT_STATUSES
from services.booking.model import STATUSES
from services.common.http.body import Instant
from services.common.http.openapi import fhir_resource
from services.common.http.routes import Component

_SERVICE_TYPE = {"required": True, "validate": validate.Length(min=1, max=200)}
_MEDICAL = "Medical: only with the medical scope (max {} characters)"
_SENSITIVE = {"description": "Sensitive: only with the sensitive class"}


class Interval(Schema):
    """One slot: its start and end, each with its offset."""

    start = Instant(required=True)
    end = Instant(required=True)


class OpenSlotList(Schema):
    """Open these slots."""

    service_type = fields.String(**_SERVICE_TYPE)
    slots = fields.List(
        fields.Nested(Interval),
        required=True,
        validate=validate.Length(min=1, max=MAX_SLOTS_PER_OPENING),
    )


class OpenSlotInterval(Schema):
    """Open one interval cut into slots of duration_minutes."""

    service_type = fields.String(**_SERVICE_TYPE)
    start = Instant(required=True)
    end = Instant(required=True)
    duration_minutes = fields.Integer(required=True, validate=validate.Range(min=5, max=480))


class OpenedSlot(Schema):
    """A slot as opened."""

    slot_id = fields.UUID(required=True)
    start = Instant(required=True)
    end = Instant(required=True)


class SlotsOpened(Schema):
    """The slots opened on the practitioner's agenda."""

    practitioner_id = fields.UUID(required=True)
    slots = fields.List(fields.Nested(OpenedSlot), required=True)


class EraseMedicalKey(Schema):
    """Why the patient's medical fields are being made unreadable."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class MedicalKeyDestroyed(Schema):
    """Done (idempotent): whether a key existed and is now gone."""

    patient_id = fields.UUID(required=True)
    key_destroyed = fields.Boolean(required=True)


APPOINTMENT = fhir_resource(
    "Appointment",
    status={"enum": [*STATUSES, "proposed"]},
    specialty=_SENSITIVE,
    serviceType=_SENSITIVE,
    reasonCode={"description": _MEDICAL.format(1000)},
    comment={"description": _MEDICAL.format(4000)},
)
SLOT = fhir_resource("Slot", status={"enum": list(SLOT_STATUSES)})
BUNDLE = fhir_resource("Bundle", type={"const": "searchset"})
JSON_PATCH = Component(
    "JsonPatch",
    {
        "type": "array",
        "minItems": 1,
        "description": "RFC 6902: replace /status or /slot/0/reference (not both), "
        "optionally after test /meta/versionId",
        "items": {
            "type": "object",
            "required": ["op", "path", "value"],
            "properties": {
                "op": {"enum": ["replace", "test"]},
                "path": {"enum": ["/status", "/slot/0/reference", "/meta/versionId"]},
                "value": {},
            },
        },
    },
)
