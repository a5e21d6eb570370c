"""One appointment's synthetic events, as booking would record them (audit's trace tests)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.contract.examples import SEALED

PATIENT, PRACTITIONER, SLOT = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
START = "2030-04-02T09:00:00+02:00"


def read(
    principal: str, connector: str | None, pairs: list[tuple[uuid.UUID, str]], **over: Any
) -> dict[str, Any]:
    """A V3 success naming (appointment, patient) pairs."""
    entries = [
        {"appointment_id": str(a), "patient_id": p, "practitioner_id": PRACTITIONER}
        for a, p in pairs
    ]
    payload = {
        "access_id": str(uuid.uuid4()),
        "principal_kind": "connector" if connector else "practitioner",
        "principal_id": principal,
        "connector_id": connector,
        "network_address": "198.51.100.7",
        "user_agent": "AgendaSync/4.2",
        "request_id": f"req-{uuid.uuid4().hex[:6]}",
        "operation": "search",
        "query": "date=ge2030-04-01",
        "purpose": "agenda_sync",
        "appointment_ids": [e["appointment_id"] for e in entries],
        "patient_ids": list(dict.fromkeys(p for _, p in pairs)),
        "practitioner_ids": [PRACTITIONER],
        "entries": entries,
        "field_classes": ["administrative", "sensitive"],
        "medical_decrypted": False,
        "result_count": len(entries),
        "outcome": "success",
        "denial_reason": None,
        "token_fingerprint": None,
        "denial_code": None,
        "targets": [],
    }
    return {**payload, **over}


def booked(appointment: uuid.UUID, patient: str) -> dict[str, Any]:
    """An AppointmentBooked payload in the story's slot, with a sealed reason."""
    return {
        "appointment_id": str(appointment),
        "slot_id": SLOT,
        "practitioner_id": PRACTITIONER,
        "patient_id": patient,
        "start": START,
        "end": "2030-04-02T09:20:00+02:00",
        "service_type": "dermatology consultation",
        "reason": SEALED,
        "booked_by": patient,
        "connector_id": None,
    }
