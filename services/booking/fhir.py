"""FHIR R4 JSON built from booking's rows: what connectors receive, filtered by the class table.

Plain dicts, not fhir.resources models: building is on every read, and the tests validate the
output against the R4B models instead. Parsing client input lives in fhir_input.py and
fhir_search.py; the error they raise lives here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.booking.classes import (
    ADMINISTRATIVE,
    MEDICAL,
    allowed_elements,
    classes_present,
)
from services.booking.model import (
    AppointmentRow,
    MedicalText,
    PatientCard,
    PractitionerCard,
    SlotRow,
)
from services.common.errors import Invalid
from services.common.http.errors import ISSUE_CODES, operation_outcome

PATIENT_SYSTEM = "urn:carnet:patient"
TAG_SYSTEM = "urn:carnet:tags"
CONTAINED_PATIENT_ID = "patient"
MEDICAL_ERASED_TAG: dict[str, str] = {
    "system": TAG_SYSTEM,
    "code": "medical-data-erased",
    "display": "Medical fields erased: the patient's key was destroyed",
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class FhirInputError(Invalid):
    """A client error (400) named by its FHIR issue type, answered as an OperationOutcome."""

    code: str

    def __init__(self, code: str, diagnostics: str) -> None:
        if code not in ISSUE_CODES:
            raise ValueError(f"not a FHIR R4 issue type: {code!r}")
        super().__init__(diagnostics, code)
        self.diagnostics = diagnostics

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome body for this error."""
        return operation_outcome(self.code, self.diagnostics)


def reference_id(text: Any, where: str, prefix: str = "") -> UUID:
    """The uuid of "<prefix><uuid>" in canonical form, the only id form this server issues."""
    if isinstance(text, str) and text.startswith(prefix) and _UUID.fullmatch(text[len(prefix) :]):
        return UUID(text[len(prefix) :])
    raise FhirInputError("value", f"{where} must be {prefix}<uuid>")


def instant(when: datetime) -> str:
    """ISO 8601 with its offset: FHIR instants must carry one, so a naive time is a bug."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime cannot be served as a FHIR instant: {when!r}")
    return when.isoformat()


def _name(given: str, family: str) -> str:
    """How a person is displayed in a reference."""
    return f"{given} {family}".strip()


def patient_identifier(patient_id: Any) -> dict[str, str]:
    """The one identifier by which connectors and booking name a patient."""
    return {"system": PATIENT_SYSTEM, "value": str(patient_id)}


def _contained_patient(patient_id: Any, card: PatientCard | None) -> dict[str, Any]:
    """The patient inline; only the identifier when the directory has no card for them yet."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": CONTAINED_PATIENT_ID,
        "identifier": [patient_identifier(patient_id)],
    }
    if card is None:
        return patient
    patient["name"] = [{"family": card.family_name, "given": [card.given_name]}]
    telecom = [
        {"system": system, "value": value}
        for system, value in (("email", card.email), ("phone", card.phone))
        if value
    ]
    if telecom:
        patient["telecom"] = telecom
    patient["gender"] = card.gender
    patient["birthDate"] = card.birth_date.isoformat()
    return patient


def _participants(row: AppointmentRow, practitioner: PractitionerCard | None) -> list[Any]:
    """The patient (contained, "#patient") and the practitioner (by reference), both required."""
    doctor: dict[str, str] = {"reference": f"Practitioner/{row.practitioner_id}"}
    if practitioner is not None:
        doctor["display"] = _name(practitioner.given_name, practitioner.family_name)
    return [
        {"actor": actor, "required": "required", "status": "accepted"}
        for actor in ({"reference": f"#{CONTAINED_PATIENT_ID}"}, doctor)
    ]


def appointment_resource(
    row: AppointmentRow,
    patient: PatientCard | None,
    practitioner: PractitionerCard | None,
    disclose: frozenset[str],
    medical: MedicalText | None,
) -> dict[str, Any]:
    """One Appointment holding exactly the classes in `disclose`; the class table filters it."""
    if ADMINISTRATIVE not in disclose:
        raise ValueError("an Appointment cannot be served without its administrative elements")
    start, end = instant(row.start), instant(row.end)
    meta: dict[str, Any] = {"versionId": str(row.version), "lastUpdated": instant(row.updated_at)}
    if medical is not None and medical.unreadable and MEDICAL in disclose:
        # Say the fields are gone rather than let the caller think there were none.
        meta["tag"] = [dict(MEDICAL_ERASED_TAG)]
    minutes = int((row.end - row.start).total_seconds() // 60)
    candidate: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(row.appointment_id),
        "meta": meta,
        "contained": [_contained_patient(row.patient_id, patient)],
        "status": row.status,
        "serviceType": [{"text": row.service_type}],
        "start": start,
        "end": end,
        "slot": [{"reference": f"Slot/{row.slot_id}"}],
        "participant": _participants(row, practitioner),
    }
    if practitioner is not None:
        candidate["specialty"] = [{"text": practitioner.specialty}]
    if minutes >= 1:  # positiveInt: a sub-minute slot has no duration to state
        candidate["minutesDuration"] = minutes
    if medical is not None and not medical.unreadable:
        if medical.reason:
            candidate["reasonCode"] = [{"text": medical.reason}]
        if medical.note:
            candidate["comment"] = medical.note
    # Classify before filtering: an element added above without a class raises here, loudly,
    # instead of being dropped (or served) without anyone noticing.
    classes_present(candidate)
    allowed = allowed_elements(disclose)
    resource = {key: value for key, value in candidate.items() if key in allowed}
    assert classes_present(resource) <= disclose
    return resource


def slot_resource(row: SlotRow, practitioner: PractitionerCard | None) -> dict[str, Any]:
    """One Slot: free until an appointment holds it; whose appointment is never said."""
    schedule: dict[str, str] = {"reference": f"Schedule/{row.schedule_id}"}
    if practitioner is not None:
        schedule["display"] = _name(practitioner.given_name, practitioner.family_name)
    resource: dict[str, Any] = {"resourceType": "Slot", "id": str(row.slot_id)}
    if row.updated_at is not None:  # None: a row from before 0031 the log did not explain
        resource["meta"] = {"lastUpdated": instant(row.updated_at)}
    return {
        **resource,
        "serviceType": [{"text": row.service_type}],
        "schedule": schedule,
        "status": "free" if row.appointment_id is None else "busy",
        "start": instant(row.start),
        "end": instant(row.end),
    }


def searchset(
    base_url: str,
    resources: Sequence[dict[str, Any]],
    self_url: str,
    next_url: str | None,
    total: int | None = None,
    searched_at: datetime | None = None,
) -> dict[str, Any]:
    """A searchset Bundle; paging is by `next` link only (keyset cursors have no `previous`);
    `meta.lastUpdated` is when the search began, by the server's clock."""
    base = base_url.rstrip("/")
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if searched_at is not None:
        bundle["meta"] = {"lastUpdated": instant(searched_at)}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    if resources:  # FHIR forbids empty arrays: an empty page has no `entry` at all
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
    return bundle
