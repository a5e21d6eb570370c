"""The V3 contracts of issue #19: what a refused attempt, a finding and an incident must say."""

from __future__ import annotations

import pytest

from contracts.errors import ContractViolation
from contracts.registry import REGISTRY
from tests.contract.examples import (
    APPOINTMENT,
    CONNECTOR,
    EXAMPLES,
    INCIDENT_OPENED_V2,
    PATIENT,
    PRACTITIONER,
    SUSPICIOUS_ACCESS_DETECTED_V2,
)

ACCESS = EXAMPLES["AppointmentsAccessed"]
TARGET = {"appointment_id": APPOINTMENT, "patient_id": PATIENT, "practitioner_id": PRACTITIONER}
REFUSED = {
    **ACCESS,
    "outcome": "denied",
    "denial_reason": "this appointment is outside your reach",
    "denial_code": "reach",
    "appointment_ids": [],
    "patient_ids": [],
    "entries": [],
    "result_count": 0,
    "field_classes": [],
    "targets": [TARGET],
}


def violation(event_type: str, payload: dict) -> dict:
    with pytest.raises(ContractViolation) as caught:
        REGISTRY.validate_for_publish(event_type, payload)
    return caught.value.messages


def test_a_refusal_names_its_targets_and_its_code():
    REGISTRY.validate_for_publish("AppointmentsAccessed", REFUSED)
    assert "denial_code" in violation("AppointmentsAccessed", {**REFUSED, "denial_code": None})
    assert "denial_code" in violation("AppointmentsAccessed", {**ACCESS, "denial_code": "quota"})
    assert "targets" in violation("AppointmentsAccessed", {**ACCESS, "targets": [TARGET]})


def test_a_refused_token_is_recorded_without_a_principal_but_with_its_fingerprint():
    unknown = {**REFUSED, "principal_kind": "unknown", "principal_id": None, "connector_id": None}
    unknown.update(denial_code="unauthenticated", targets=[], token_fingerprint="00ff00ff00ff00ff")
    REGISTRY.validate_for_publish("AppointmentsAccessed", unknown)
    named = {**unknown, "principal_kind": "connector"}
    assert "principal_id" in violation("AppointmentsAccessed", named)
    assert "token_fingerprint" in violation(
        "AppointmentsAccessed", {**unknown, "token_fingerprint": "a-whole-token-never"}
    )


def test_a_finding_names_a_principal_or_an_address():
    finding = EXAMPLES["SuspiciousAccessDetected"]
    REGISTRY.validate_for_publish("SuspiciousAccessDetected", {**finding, "principal_id": None})
    nobody = {**finding, "principal_id": None, "network_address": None}
    assert "principal_id" in violation("SuspiciousAccessDetected", nobody)
    assert "rule" in violation("SuspiciousAccessDetected", {**finding, "rule": "volume"})


def test_v2_findings_and_incidents_upcast_to_their_one_subject():
    _, finding = REGISTRY.upcast("SuspiciousAccessDetected", 2, SUSPICIOUS_ACCESS_DETECTED_V2)
    assert finding["principal_kind"] == "connector" and finding["linked_principal_ids"] == []
    _, incident = REGISTRY.upcast("IncidentOpened", 2, INCIDENT_OPENED_V2)
    assert incident["subjects"] == [{"kind": "connector", "value": CONNECTOR}]
    assert "connector_id" not in incident
    REGISTRY.load_payload("IncidentOpened", 3, incident)


@pytest.mark.parametrize(("per_hour", "burst"), [(0, 10), (10, 0), (-5, 10), (10**8, 10)])
def test_a_quota_is_positive_and_bounded(per_hour: int, burst: int):
    bad = {**EXAMPLES["QuotaSet"], "per_hour": per_hour, "burst": burst}
    assert set(violation("QuotaSet", bad)) & {"per_hour", "burst"}
