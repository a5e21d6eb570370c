"""What a reach-matrix cell may answer: a refusal that is recorded, or exactly what is allowed."""

from __future__ import annotations

from typing import Any

import requests
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.security.reach_rules import Outcome
from tests.security.reach_world import (
    FHIR,
    MEDICAL_REASON,
    Caller,
    ReachWorld,
    medical_elements,
)


def patch(
    rw: ReachWorld, caller: Caller, appointment_id: str, ops: list[dict[str, Any]]
) -> tuple[requests.Response, str]:
    """PATCH one appointment with a JSON Patch, as `caller`."""
    return rw.call(
        caller,
        "PATCH",
        f"/fhir/Appointment/{appointment_id}",
        json=ops,
        headers={"Content-Type": "application/json-patch+json"},
    )


def book(
    rw: ReachWorld, caller: Caller, slot_id: str, patient: str
) -> tuple[requests.Response, str]:
    """POST a booking of `slot_id` for `patient` (label), with a reason for visit."""
    body = {
        "resourceType": "Appointment",
        "status": "proposed",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{rw.patients[patient]}"}, "status": "accepted"}
        ],
        "reasonCode": [{"text": MEDICAL_REASON}],
    }
    return rw.call(caller, "POST", "/fhir/Appointment", json=body, headers={"Content-Type": FHIR})


def assert_denied(
    rw: ReachWorld, caller: Caller, r: requests.Response, request_id: str, x_id: str | None
) -> None:
    """403, an OperationOutcome or error body with no appointment data, one denied record."""
    assert r.status_code == 403, (r.status_code, r.text)
    if r.headers.get("Content-Type", "").startswith(FHIR):
        OperationOutcome.model_validate(r.json())
    assert MEDICAL_REASON not in r.text and "X-Carnet-Access-Id" not in r.headers
    for appointment_id in rw.seeded.values():
        assert appointment_id not in r.text
    (record,) = rw.records_of(request_id)
    assert record["outcome"] == "denied" and record["denial_reason"]
    assert record["principal_id"] == caller.principal_id
    assert record["connector_id"] == caller.connector_id
    assert record["appointment_ids"] == [] and record["patient_ids"] == []
    assert record["field_classes"] == [] and record["medical_decrypted"] is False
    assert record["result_count"] == 0
    allowed_named = [] if x_id is None else [x_id]
    assert record["practitioner_ids"] in ([], allowed_named)


def assert_served(
    rw: ReachWorld,
    r: requests.Response,
    request_id: str,
    resources: list[dict[str, Any]],
    medical: dict[str, bool],
) -> None:
    """Each resource carries medical elements exactly where expected; one record names them."""
    for resource in resources:
        wanted = medical[resource["id"]]
        assert bool(medical_elements(resource)) is wanted, (resource["id"], resource.keys())
        if wanted:
            assert resource["reasonCode"][0]["text"] == MEDICAL_REASON
    if not medical or not any(medical.values()):
        assert MEDICAL_REASON not in r.text
    (record,) = rw.records_of(request_id)
    assert record["access_id"] == r.headers["X-Carnet-Access-Id"]
    assert record["outcome"] == "success"
    assert sorted(record["appointment_ids"]) == sorted(x["id"] for x in resources)
    assert ("medical" in record["field_classes"]) is any(medical.values())
    assert record["medical_decrypted"] is any(medical.values())


def check_appointment_answer(
    rw: ReachWorld, r: requests.Response, request_id: str, want: Outcome, appointment_id: str
) -> None:
    """A write's answer: the appointment (recorded) when readable, else no data, no record."""
    if want.body:
        resource = r.json()
        assert resource["id"] == appointment_id
        assert_served(rw, r, request_id, [resource], {appointment_id: want.medical})
    else:
        assert r.content == b"" and "X-Carnet-Access-Id" not in r.headers
        assert rw.records_of(request_id) == []
