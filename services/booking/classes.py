"""The data class of every appointment element: one table drives what is served and recorded.

The FHIR builder keeps only the elements whose class the caller may see, and the access record
(AppointmentsAccessed.field_classes) is computed from the built resource with the same table, so
the two cannot disagree. An element missing from the table raises instead of slipping out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

ADMINISTRATIVE, SENSITIVE, MEDICAL = "administrative", "sensitive", "medical"
CLASSES: tuple[str, ...] = (ADMINISTRATIVE, SENSITIVE, MEDICAL)

# Top-level elements of a FHIR R4 Appointment as this service emits them. `contained` holds the
# patient (name, gender, birth date, contact): administrative. Practitioner name: administrative.
APPOINTMENT_ELEMENTS: Mapping[str, str] = MappingProxyType(
    {
        "resourceType": ADMINISTRATIVE,
        "id": ADMINISTRATIVE,
        "meta": ADMINISTRATIVE,
        "contained": ADMINISTRATIVE,
        "status": ADMINISTRATIVE,
        "start": ADMINISTRATIVE,
        "end": ADMINISTRATIVE,
        "minutesDuration": ADMINISTRATIVE,
        "slot": ADMINISTRATIVE,
        "participant": ADMINISTRATIVE,
        # A specialty or a service type can reveal a condition (oncology, psychiatry).
        "specialty": SENSITIVE,
        "serviceType": SENSITIVE,
        # What the patient came for: only with the medical scope.
        "reasonCode": MEDICAL,
        "comment": MEDICAL,
        "supportingInformation": MEDICAL,
    }
)

# Field names of booking's events, read-model rows and directory cards (services/booking/model.py,
# contracts/booking.py). Listed one by one, no default: a new stored field must be classified here.
STORED_FIELD_CLASSES: Mapping[str, str] = MappingProxyType(
    {
        # appointment and slot rows, booking events
        "appointment_id": ADMINISTRATIVE,
        "version": ADMINISTRATIVE,
        "slot_id": ADMINISTRATIVE,
        "schedule_id": ADMINISTRATIVE,
        "practitioner_id": ADMINISTRATIVE,
        "patient_id": ADMINISTRATIVE,
        "start": ADMINISTRATIVE,
        "end": ADMINISTRATIVE,
        "status": ADMINISTRATIVE,
        "previous_status": ADMINISTRATIVE,
        "previous_slot_id": ADMINISTRATIVE,
        "previous_start": ADMINISTRATIVE,
        "reason_code": ADMINISTRATIVE,  # a cancellation code (patient_request, no_show...)
        "booked_by": ADMINISTRATIVE,
        "rescheduled_by": ADMINISTRATIVE,
        "cancelled_by": ADMINISTRATIVE,
        "changed_by": ADMINISTRATIVE,
        "connector_id": ADMINISTRATIVE,
        "updated_at": ADMINISTRATIVE,
        "slots": ADMINISTRATIVE,
        "cause": ADMINISTRATIVE,
        "key_id": ADMINISTRATIVE,
        "destroyed_by": ADMINISTRATIVE,
        # directory cards
        "given_name": ADMINISTRATIVE,
        "family_name": ADMINISTRATIVE,
        "birth_date": ADMINISTRATIVE,
        "gender": ADMINISTRATIVE,
        "email": ADMINISTRATIVE,
        "phone": ADMINISTRATIVE,
        "preferred_language": ADMINISTRATIVE,
        "service_type": SENSITIVE,
        "specialty": SENSITIVE,
        # Reason for visit, sealed with the patient's key. (PatientMedicalKeyDestroyed.reason, an
        # erasure reason, shares the name: counting it medical errs on the safe side.)
        "reason": MEDICAL,
        "note": MEDICAL,  # free-text note, sealed with the patient's key
    }
)


class UnclassifiedElement(KeyError):
    """A resource carries an element the class table does not know: refuse to count it."""


def _check_classes(disclose: Iterable[str]) -> frozenset[str]:
    """Disclosure sets come from grants; an unknown class name is a bug, not an empty set."""
    wanted = frozenset(disclose)
    unknown = wanted - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown data classes: {sorted(unknown)}")
    return wanted


def allowed_elements(disclose: frozenset[str]) -> frozenset[str]:
    """The Appointment elements a caller allowed to see `disclose` may receive."""
    wanted = _check_classes(disclose)
    return frozenset(name for name, cls in APPOINTMENT_ELEMENTS.items() if cls in wanted)


def classes_present(resource: Mapping[str, Any]) -> set[str]:
    """The classes a built Appointment really holds, for the access record; unknown keys raise."""
    if resource.get("resourceType") != "Appointment":
        raise ValueError(f"not an Appointment: {resource.get('resourceType')!r}")
    unknown = sorted(key for key in resource if key not in APPOINTMENT_ELEMENTS)
    if unknown:
        raise UnclassifiedElement(f"Appointment elements without a data class: {unknown}")
    return {APPOINTMENT_ELEMENTS[key] for key in resource}


def stored_field_class(name: str) -> str:
    """The class of a stored field; an unknown name raises rather than defaulting."""
    try:
        return STORED_FIELD_CLASSES[name]
    except KeyError:
        raise UnclassifiedElement(f"stored field without a data class: {name!r}") from None
