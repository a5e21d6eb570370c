"""A POSTed FHIR Appointment, booked on one slot for one patient, with any element changed."""

from __future__ import annotations

from uuid import UUID

START = "2025-03-04T09:30:00+01:00"
END = "2025-03-04T09:50:00+01:00"


def appointment(slot_id: UUID, patient_id: UUID, /, **changes: object) -> dict:
    """The body; an element changed to `...` is left out."""
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": START,
        "end": END,
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}
