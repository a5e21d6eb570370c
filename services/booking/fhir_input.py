"""What connectors send to book or change an appointment, parsed strictly, never half-read.

Refusals are FhirInputError (a FHIR issue type), answered as an OperationOutcome. Diagnostics
name elements but never echo submitted text, which may be medical and would reach the logs.
Search parameters and cursors are parsed in fhir_search.py and re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fhir.resources.R4B.appointment import Appointment
from pydantic import ValidationError

from services.booking.fhir import PATIENT_SYSTEM, FhirInputError, reference_id
from services.booking.fhir_search import (
    DEFAULT_PAGE,
    MAX_PAGE,
    AppointmentQuery,
    SlotQuery,
    decode_cursor,
    encode_cursor,
    parse_appointment_search,
    parse_slot_search,
)
from services.common.instants import in_utc

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "AppointmentQuery",
    "Change",
    "FhirInputError",
    "NewAppointment",
    "SlotQuery",
    "decode_cursor",
    "encode_cursor",
    "parse_appointment_search",
    "parse_new_appointment",
    "parse_slot_search",
    "parse_status_patch",
]

MAX_REASON, MAX_COMMENT = 1000, 4000
BOOKABLE = ("booked", "proposed")
PATCHABLE_STATUSES = ("arrived", "fulfilled", "cancelled", "noshow")
# Top-level elements accepted when booking; id, meta and text are ignored as FHIR create allows.
CREATE_ELEMENTS = frozenset(
    {"resourceType", "id", "meta", "text", "status", "start", "end", "minutesDuration", "slot",
     "participant", "contained", "reasonCode", "comment"}
)  # fmt: skip


@dataclass(frozen=True)
class NewAppointment:
    """A booking request. The handler must check start/end and practitioner against the slot."""

    slot_id: UUID
    patient_id: UUID
    reason: str | None
    comment: str | None
    practitioner_id: UUID | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Change:
    """One JSON Patch: a status change or a move to another slot, maybe version-guarded."""

    status: str | None
    slot_id: UUID | None
    expected_version: int | None = None


def _when(text: str, where: str) -> datetime:
    """A FHIR instant (the model checked its pattern and offset) as an aware datetime."""
    try:
        return in_utc(datetime.fromisoformat(text), where, code="value")
    except ValueError:  # e.g. a leap second, which the pattern allows
        raise FhirInputError("value", f"{where} is not a usable instant") from None


def _path(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a FHIR element path: Appointment.participant[0].actor."""
    return "Appointment" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _no_nulls(value: Any, loc: tuple[int | str, ...]) -> None:
    """FHIR JSON has no nulls; refusing them here keeps every later .get() honest."""
    if value is None:
        raise FhirInputError("structure", f"{_path(loc)}: null is not allowed in FHIR JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nulls(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_nulls(item, (*loc, i))


def _validated(body: Any) -> dict[str, Any]:
    """The body as an Appointment the R4B model accepts; pydantic errors become element paths."""
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise FhirInputError("structure", "the body must be a JSON object: a FHIR Appointment")
    _no_nulls(body, ())
    contained = body.get("contained", [])
    # Checked before the model: it raises KeyError on an unknown contained resourceType.
    if not isinstance(contained, list) or any(
        not isinstance(c, dict) or c.get("resourceType") != "Patient" for c in contained
    ):
        raise FhirInputError("not-supported", "Appointment.contained may hold only a Patient")
    try:
        Appointment.model_validate(body)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False, include_context=False)
        paths = [f"{_path(e['loc'])}: {e['msg']}" for e in problems[:10]]
        missing = all(e["type"].endswith("missing") for e in problems)
        raise FhirInputError("required" if missing else "structure", "; ".join(paths)) from None
    except (KeyError, TypeError, ValueError):  # fhir.resources' own lookups, on odd input
        raise FhirInputError("structure", "the body is not a valid FHIR R4 Appointment") from None
    unsupported = sorted(set(body) - CREATE_ELEMENTS)
    if unsupported:
        raise FhirInputError(
            "not-supported",
            f"elements not accepted when booking: {', '.join(unsupported)} "
            "(the slot fixes practitioner, time and service type)",
        )
    return body


def _people(body: dict[str, Any]) -> tuple[UUID, UUID | None]:
    """The one patient (reference, contained Patient or identifier) and at most one practitioner."""
    contained = {c.get("id"): c for c in body.get("contained", [])}
    patients: list[UUID] = []
    practitioners: list[UUID] = []
    referenced: set[str] = set()
    for i, participant in enumerate(body.get("participant", [])):
        if "modifierExtension" in participant:
            raise FhirInputError(
                "not-supported", f"Appointment.participant[{i}]: modifierExtension not understood"
            )
        where = f"Appointment.participant[{i}].actor"
        actor = participant.get("actor")
        if not actor:
            raise FhirInputError("required", f"{where} is required")
        ref, ident = actor.get("reference"), actor.get("identifier")
        if isinstance(ref, str) and ref.startswith("#") and ref[1:] in contained:
            referenced.add(ref[1:])
            ids = contained[ref[1:]].get("identifier", [])
            ours = [x.get("value") for x in ids if x.get("system") == PATIENT_SYSTEM]
            if len(ours) != 1:
                raise FhirInputError(
                    "required", f"{where}: the contained Patient needs one {PATIENT_SYSTEM} id"
                )
            patients.append(reference_id(ours[0], f"{where} identifier"))
        elif isinstance(ref, str) and ref.startswith("Patient/"):
            patients.append(reference_id(ref, where, "Patient/"))
        elif isinstance(ref, str) and ref.startswith("Practitioner/"):
            practitioners.append(reference_id(ref, where, "Practitioner/"))
        elif ref is None and ident and ident.get("system") == PATIENT_SYSTEM:
            patients.append(reference_id(ident.get("value"), f"{where}.identifier.value"))
        else:
            raise FhirInputError(
                "not-supported",
                f"{where} must be Patient/<uuid>, a contained Patient or Practitioner/<uuid>",
            )
    if len(patients) != 1 or len(practitioners) > 1:
        raise FhirInputError(
            "required", "exactly one Patient participant and at most one Practitioner are required"
        )
    if set(contained) - referenced:
        raise FhirInputError("invariant", "every contained resource must be referenced (dom-3)")
    return patients[0], (practitioners[0] if practitioners else None)


def _period(body: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """start/end as FHIR requires them: both or neither (app-2), and set when booked (app-3)."""
    start = _when(body["start"], "Appointment.start") if "start" in body else None
    end = _when(body["end"], "Appointment.end") if "end" in body else None
    if (start is None) != (end is None):
        raise FhirInputError("invariant", "start and end go together (app-2)")
    if start is None or end is None:
        if body["status"] == "booked":
            raise FhirInputError("invariant", "a booked Appointment needs start and end (app-3)")
        if "minutesDuration" in body:
            raise FhirInputError("value", "minutesDuration needs start and end")
        return None, None
    if end <= start:
        raise FhirInputError("value", "end must be after start")
    minutes = body.get("minutesDuration")
    if minutes is not None and minutes != int((end - start).total_seconds() // 60):
        raise FhirInputError("value", "minutesDuration disagrees with start and end")
    return start, end


def _text(value: Any, where: str, limit: int) -> str | None:
    """Optional medical free text, bounded; blank counts as absent."""
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise FhirInputError("too-long", f"{where} is longer than {limit} characters")
    return value


def parse_new_appointment(body: Any) -> NewAppointment:
    """A POSTed Appointment as a booking request; reason and comment are the medical texts."""
    body = _validated(body)
    status = body.get("status")
    if status not in BOOKABLE:
        raise FhirInputError("value", "Appointment.status must be booked or proposed")
    slots = body.get("slot", [])
    if len(slots) != 1:
        raise FhirInputError("required", "Appointment.slot must hold exactly one Slot reference")
    slot_id = reference_id(slots[0].get("reference"), "Appointment.slot[0].reference", "Slot/")
    patient_id, practitioner_id = _people(body)
    start, end = _period(body)
    reasons = body.get("reasonCode", [])
    if len(reasons) > 1 or any(set(r) - {"text"} for r in reasons):
        raise FhirInputError("not-supported", "reasonCode: one entry with text only (no coding)")
    return NewAppointment(
        slot_id=slot_id,
        patient_id=patient_id,
        reason=_text(reasons[0].get("text") if reasons else None, "reasonCode[0].text", MAX_REASON),
        comment=_text(body.get("comment"), "comment", MAX_COMMENT),
        practitioner_id=practitioner_id,
        start=start,
        end=end,
    )


def _expected_version(value: Any) -> int:
    """meta.versionId is a string in FHIR; an integer is accepted too, as clients send both."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9]\d{0,17}", value):
        return int(value)
    raise FhirInputError("value", "test /meta/versionId needs a version number")


def parse_status_patch(ops: Any) -> Change:
    """A JSON Patch (RFC 6902) limited to a status change or a reschedule, plus a version test."""
    if not isinstance(ops, list) or not ops or not all(isinstance(op, dict) for op in ops):
        raise FhirInputError("structure", "the body must be a non-empty JSON Patch array")
    found: dict[str, Any] = {}
    for i, op in enumerate(ops):
        key = (op.get("op"), op.get("path"))
        if not all(isinstance(part, str) for part in key):
            raise FhirInputError("structure", f"operation {i} needs string op and path members")
        name = {
            ("replace", "/status"): "status",
            ("replace", "/slot/0/reference"): "slot",
            ("test", "/meta/versionId"): "version",
        }.get(key)
        if name is None:
            raise FhirInputError(
                "not-supported",
                f"operation {i} is not supported: use replace /status, "
                "replace /slot/0/reference or test /meta/versionId",
            )
        if "value" not in op:
            raise FhirInputError("required", f"operation {i} needs a value")
        if name in found:
            raise FhirInputError("not-supported", f"operation {i} repeats {op['path']}")
        found[name] = op["value"]
    if "status" in found and "slot" in found:
        raise FhirInputError("not-supported", "change the status or the slot, not both at once")
    if "status" not in found and "slot" not in found:
        raise FhirInputError("required", "the patch changes nothing: replace /status or /slot")
    status, slot = found.get("status"), found.get("slot")
    if "status" in found and status not in PATCHABLE_STATUSES:
        raise FhirInputError("value", f"status must be one of {', '.join(PATCHABLE_STATUSES)}")
    return Change(
        status=status,
        slot_id=reference_id(slot, "/slot/0/reference", "Slot/") if "slot" in found else None,
        expected_version=_expected_version(found["version"]) if "version" in found else None,
    )
