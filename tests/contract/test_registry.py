"""The registry: every contract round-trips, producers are strict, consumers lenient, V1 upcasts."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from marshmallow import Schema, fields

import contracts
from contracts import REGISTRY, ContractViolation, UnknownEventType, UnsupportedSchemaVersion
from contracts.errors import ContractError
from contracts.identity import patient_registered_v1_to_v2
from contracts.registry import Registry
from tests.contract.examples import (
    APPOINTMENTS_ACCESSED_V2,
    EXAMPLES,
    PATIENT,
    PATIENT_REGISTERED_V1,
)

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_ROUTES = {
    "PractitionerRegistered": ("identity.events", "practitioner.registered"),
    "PatientRegistered": ("identity.events", "patient.registered"),
    "ConnectorRegistered": ("identity.events", "connector.registered"),
    "ConnectorAuthorized": ("identity.events", "connector.authorized"),
    "TokenIssued": ("identity.events", "token.issued"),
    "AuthenticationFailed": ("identity.events", "authentication.failed"),
    "ConnectorSuspended": ("identity.events", "connector.suspended"),
    "StaffRegistered": ("identity.events", "staff.registered"),
    "ConnectorAuthorizationRevoked": ("identity.events", "connector.authorization_revoked"),
    "ConnectorSecretRotated": ("identity.events", "connector.secret_rotated"),
    "ConnectorReinstated": ("identity.events", "connector.reinstated"),
    "AccountSuspended": ("identity.events", "account.suspended"),
    "AccountReinstated": ("identity.events", "account.reinstated"),
    "CredentialsReset": ("identity.events", "credentials.reset"),
    "CredentialsSet": ("identity.events", "credentials.set"),
    "QuotaSet": ("identity.events", "quota.set"),
    "PrincipalTrusted": ("identity.events", "principal.trusted"),
    "SlotsOpened": ("booking.events", "slots.opened"),
    "AppointmentBooked": ("booking.events", "appointment.booked"),
    "AppointmentRescheduled": ("booking.events", "appointment.rescheduled"),
    "AppointmentCancelled": ("booking.events", "appointment.cancelled"),
    "AppointmentsAccessed": ("booking.events", "appointments.accessed"),
    "AppointmentStatusChanged": ("booking.events", "appointment.status_changed"),
    "SlotHeld": ("booking.events", "slot.held"),
    "SlotReleased": ("booking.events", "slot.released"),
    "PatientMedicalKeyDestroyed": ("booking.events", "patient_key.destroyed"),
    "RegulatorNoticePrepared": ("audit.events", "regulator_notice.prepared"),
    "NotificationSent": ("notification.events", "notification.sent"),
    "NotificationFailed": ("notification.events", "notification.failed"),
    "SuspiciousAccessDetected": ("audit.events", "suspicious_access.detected"),
    "AuditAccessRefused": ("audit.events", "audit_access.refused"),
    "IncidentOpened": ("audit.events", "incident.opened"),
    "BreachNotificationRequested": ("audit.events", "breach_notification.requested"),
    "LedgerCheckpointed": ("audit.events", "ledger.checkpointed"),
}


def test_registry_is_consistent() -> None:
    REGISTRY.check()


def test_every_design_event_is_registered_with_its_route() -> None:
    routes = {c.event_type: (c.exchange, c.routing_key) for c in REGISTRY.latest_contracts()}
    assert routes == EXPECTED_ROUTES


def test_every_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(REGISTRY.event_types())


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_example_round_trips_through_producer_and_consumer(event_type: str) -> None:
    example = copy.deepcopy(EXAMPLES[event_type])
    REGISTRY.validate_for_publish(event_type, example)
    dumped = REGISTRY.dump_payload(event_type, example)
    assert dumped == example
    loaded = REGISTRY.load_payload(event_type, REGISTRY.latest_version(event_type), dumped)
    assert REGISTRY.dump_payload(event_type, loaded) == example


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_producer_rejects_an_unknown_field(event_type: str) -> None:
    payload = {**EXAMPLES[event_type], "surprise": "x"}
    with pytest.raises(ContractViolation) as caught:
        REGISTRY.dump_payload(event_type, payload)
    assert "surprise" in caught.value.messages
    with pytest.raises(ContractViolation):
        REGISTRY.validate_for_publish(event_type, payload)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_consumer_refuses_a_field_its_version_does_not_declare(event_type: str) -> None:
    """Producers refuse undeclared fields; a message with one was not sent by a producer (#18)."""
    payload = {**EXAMPLES[event_type], "surprise": "x"}
    with pytest.raises(ContractViolation) as caught:
        REGISTRY.load_payload(event_type, REGISTRY.latest_version(event_type), payload)
    assert caught.value.messages == {"surprise": ["Unknown field."]}


def test_unknown_nested_fields_are_refused_on_both_sides() -> None:
    example = copy.deepcopy(EXAMPLES["AppointmentBooked"])
    example["reason"] = {**example["reason"], "algorithm": "future"}
    with pytest.raises(ContractViolation) as consumed:
        REGISTRY.load_payload("AppointmentBooked", 1, example)
    with pytest.raises(ContractViolation) as produced:
        REGISTRY.dump_payload("AppointmentBooked", example)
    expected = {"reason": {"algorithm": ["Unknown field."]}}
    assert consumed.value.messages == produced.value.messages == expected


def test_consumer_gets_typed_values() -> None:
    version = REGISTRY.latest_version("PatientRegistered")
    loaded = REGISTRY.load_payload("PatientRegistered", version, EXAMPLES["PatientRegistered"])
    assert loaded["patient_id"] == UUID(PATIENT)
    assert loaded["birth_date"] == date(1990, 1, 1)


def test_producer_accepts_python_values_and_returns_json_form() -> None:
    payload = {
        **EXAMPLES["PatientRegistered"],
        "patient_id": UUID(PATIENT),
        "birth_date": date(1990, 1, 1),
    }
    assert REGISTRY.dump_payload("PatientRegistered", payload) == EXAMPLES["PatientRegistered"]


def test_missing_field_is_a_violation_with_field_messages() -> None:
    payload = dict(EXAMPLES["AppointmentsAccessed"])
    del payload["request_id"]
    with pytest.raises(ContractViolation) as caught:
        REGISTRY.load_payload("AppointmentsAccessed", 3, payload)
    assert caught.value.messages == {"request_id": ["Missing data for required field."]}


def test_access_record_v1_upcasts_to_v2_without_guessing() -> None:
    v1 = {
        k: v
        for k, v in APPOINTMENTS_ACCESSED_V2.items()
        if k
        not in {
            "principal_kind",
            "user_agent",
            "query",
            "practitioner_ids",
            "entries",
            "medical_decrypted",
            "result_count",
            "outcome",
            "denial_reason",
        }
    }
    version, latest = REGISTRY.upcast("AppointmentsAccessed", 1, v1)
    assert version == 3
    assert latest["principal_kind"] == "connector"
    assert latest["outcome"] == "success"
    assert latest["result_count"] == len(v1["appointment_ids"])
    assert latest["medical_decrypted"] is False
    assert (latest["denial_code"], latest["targets"], latest["token_fingerprint"]) == (
        None,
        [],
        None,
    )
    REGISTRY.load_payload("AppointmentsAccessed", 3, latest)


@pytest.mark.parametrize(
    ("reason", "code"),
    [("this appointment is outside your reach", "reach"), ("only an admin may erase", "forbidden")],
)
def test_a_v2_refusal_upcasts_with_its_class(reason: str, code: str) -> None:
    v2 = {**APPOINTMENTS_ACCESSED_V2, "outcome": "denied", "denial_reason": reason}
    v2.update(appointment_ids=[], patient_ids=[], entries=[], result_count=0)
    _, latest = REGISTRY.upcast("AppointmentsAccessed", 2, v2)
    assert latest["denial_code"] == code and latest["targets"] == []


def test_unknown_type_raises() -> None:
    with pytest.raises(UnknownEventType):
        REGISTRY.load_payload("AppointmentTeleported", 1, {})
    with pytest.raises(UnknownEventType):
        REGISTRY.dump_payload("AppointmentTeleported", {})


@pytest.mark.parametrize("version", [0, 4, 99, True])
def test_unsupported_version_raises_for_dead_lettering(version: int) -> None:
    with pytest.raises(UnsupportedSchemaVersion) as caught:
        REGISTRY.load_payload("PatientRegistered", version, EXAMPLES["PatientRegistered"])
    assert caught.value.latest == 3


def test_v1_patient_registered_loads_as_the_latest() -> None:
    loaded = REGISTRY.load_payload("PatientRegistered", 1, PATIENT_REGISTERED_V1)
    assert loaded["preferred_language"] == "fr"  # V2 -> V3: the platform's default
    assert loaded["given_name"] == "Test"
    assert loaded["family_name"] == "Patient"
    assert "name" not in loaded
    assert loaded["patient_id"] == UUID(PATIENT)


@pytest.mark.parametrize(
    ("name", "given", "family"),
    [
        ("Test Patient", "Test", "Patient"),
        ("Test Second Patient", "Test Second", "Patient"),
        ("Patient", "", "Patient"),
        ("  Test Patient  ", "Test", "Patient"),
    ],
)
def test_upcaster_splits_on_the_last_space(name: str, given: str, family: str) -> None:
    upcast = patient_registered_v1_to_v2({**PATIENT_REGISTERED_V1, "name": name})
    assert (upcast["given_name"], upcast["family_name"]) == (given, family)


def test_upcaster_does_not_mutate_the_stored_payload() -> None:
    stored = dict(PATIENT_REGISTERED_V1)
    REGISTRY.load_payload("PatientRegistered", 1, stored)
    assert stored == PATIENT_REGISTERED_V1


def test_broken_v1_payload_is_a_violation_not_a_crash() -> None:
    payload = {k: v for k, v in PATIENT_REGISTERED_V1.items() if k != "name"}
    with pytest.raises(ContractViolation):
        REGISTRY.load_payload("PatientRegistered", 1, payload)


def test_old_versions_stay_valid_for_republishing() -> None:
    REGISTRY.validate_for_publish("PatientRegistered", PATIENT_REGISTERED_V1, version=1)
    with pytest.raises(ContractViolation):
        REGISTRY.dump_payload("PatientRegistered", PATIENT_REGISTERED_V1)


def test_medical_reason_must_be_sealed() -> None:
    payload = {**EXAMPLES["AppointmentBooked"], "reason": "plain text reason"}
    with pytest.raises(ContractViolation) as caught:
        REGISTRY.dump_payload("AppointmentBooked", payload)
    assert "reason" in caught.value.messages


def test_sealed_blob_must_be_base64() -> None:
    blob = {**EXAMPLES["AppointmentBooked"]["reason"], "ciphertext": "not base64!"}
    with pytest.raises(ContractViolation):
        REGISTRY.dump_payload(
            "AppointmentBooked", {**EXAMPLES["AppointmentBooked"], "reason": blob}
        )


def test_authentication_failed_cannot_carry_a_secret() -> None:
    payload = {**EXAMPLES["AuthenticationFailed"], "client_secret": "hunter2"}
    with pytest.raises(ContractViolation):
        REGISTRY.dump_payload("AuthenticationFailed", payload)
    assert not any(
        "secret" in name for name in REGISTRY.contract("AuthenticationFailed").schema().fields
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"field_classes": ["administrative", "genetic"]}, "field_classes"),
        ({"outcome": "maybe"}, "outcome"),
        ({"field_classes": ["medical", "medical"]}, "field_classes"),
        ({"network_address": "not-an-ip"}, "network_address"),
        ({"appointment_ids": ["nope"]}, "appointment_ids"),
    ],
)
def test_access_record_rejects_bad_values(change: dict, field: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        REGISTRY.dump_payload(
            "AppointmentsAccessed", {**EXAMPLES["AppointmentsAccessed"], **change}
        )
    assert field in caught.value.messages


def test_slot_must_end_after_it_starts() -> None:
    payload = copy.deepcopy(EXAMPLES["SlotsOpened"])
    payload["slots"][0]["end"] = payload["slots"][0]["start"]
    with pytest.raises(ContractViolation):
        REGISTRY.dump_payload("SlotsOpened", payload)


def test_naive_datetimes_are_refused() -> None:
    payload = {**EXAMPLES["TokenIssued"], "expires_at": "2030-01-01T10:15:00"}
    with pytest.raises(ContractViolation):
        REGISTRY.dump_payload("TokenIssued", payload)
    aware = {**EXAMPLES["TokenIssued"], "expires_at": datetime(2030, 1, 1, tzinfo=UTC)}
    REGISTRY.dump_payload("TokenIssued", aware)


def test_by_route_maps_a_routing_key_back_to_its_type() -> None:
    contract = REGISTRY.by_route("booking.events", "appointments.accessed")
    assert contract.event_type == "AppointmentsAccessed"
    with pytest.raises(UnknownEventType):
        REGISTRY.by_route("booking.events", "patient.registered")


class _Thing(Schema):
    thing_id = fields.UUID(required=True)


def test_registry_refuses_ambiguity() -> None:
    registry = Registry()
    registry.register(
        _Thing, event_type="ThingDone", version=1, producer="audit", routing_key="thing.done"
    )
    with pytest.raises(ContractError):
        registry.register(
            _Thing, event_type="ThingDone", version=1, producer="audit", routing_key="thing.done"
        )
    with pytest.raises(ContractError):
        registry.register(
            _Thing, event_type="ThingDone", version=2, producer="audit", routing_key="thing.redone"
        )
    with pytest.raises(ContractError):
        registry.register(
            _Thing, event_type="OtherDone", version=1, producer="booking", routing_key="thing.done"
        )
    with pytest.raises(ContractError):
        registry.register(
            _Thing, event_type="Bad", version=1, producer="billing", routing_key="bad.made"
        )
    with pytest.raises(ContractError):
        registry.register(
            _Thing, event_type="Bad", version=1, producer="audit", routing_key="BadKey"
        )


def test_check_demands_an_upcaster_per_step() -> None:
    registry = Registry()
    registry.register(
        _Thing, event_type="ThingDone", version=1, producer="audit", routing_key="thing.done"
    )
    registry.register(
        _Thing, event_type="ThingDone", version=2, producer="audit", routing_key="thing.done"
    )
    with pytest.raises(ContractError, match="no upcaster"):
        registry.check()
    registry.upcaster("ThingDone", 1)(lambda payload: payload)
    registry.check()


def test_importing_contracts_pulls_in_no_runtime() -> None:
    # A subprocess: the root conftest has already imported eventlet into this one.
    runtime = {"nameko", "eventlet", "services", "kombu", "psycopg", "pika"}
    code = (
        "import sys, contracts, contracts.asyncapi\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {runtime!r})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert contracts.REGISTRY is REGISTRY
