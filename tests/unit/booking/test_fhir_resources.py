"""Built FHIR resources validate as R4, and hold exactly the data classes the caller may see."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.slot import Slot
from jsonschema import Draft202012Validator

from contracts import booking as contract
from contracts import identity as identity_contract
from services.booking import model
from services.booking.classes import (
    ADMINISTRATIVE,
    APPOINTMENT_ELEMENTS,
    MEDICAL,
    SENSITIVE,
    STORED_FIELD_CLASSES,
    UnclassifiedElement,
    allowed_elements,
    classes_present,
    stored_field_class,
)
from services.booking.fhir import (
    MEDICAL_ERASED_TAG,
    FhirInputError,
    appointment_resource,
    instant,
    searchset,
    slot_resource,
)
from services.booking.model import (
    AppointmentRow,
    MedicalText,
    PatientCard,
    PractitionerCard,
    SlotRow,
)
from services.booking.routes import API
from services.common.http.errors import ISSUE_CODES, operation_outcome
from services.common.http.openapi import document

PARIS = timezone(timedelta(hours=1))
START = datetime(2025, 3, 4, 9, 30, tzinfo=PARIS)
ADMIN = frozenset({ADMINISTRATIVE})
ADMIN_SENSITIVE = frozenset({ADMINISTRATIVE, SENSITIVE})
EVERYTHING = frozenset({ADMINISTRATIVE, SENSITIVE, MEDICAL})
MEDICAL_ELEMENTS = {"reasonCode", "comment", "supportingInformation"}
SENSITIVE_ELEMENTS = {"specialty", "serviceType"}


def a_row(**changes: object) -> AppointmentRow:
    row = AppointmentRow(
        appointment_id=uuid4(),
        version=3,
        slot_id=uuid4(),
        practitioner_id=uuid4(),
        patient_id=uuid4(),
        start=START,
        end=START + timedelta(minutes=20),
        status="booked",
        service_type="dermatology consultation",
        reason={"key_id": "k", "nonce": "bm9uY2U=", "ciphertext": "Y2lwaGVy"},
        note=None,
        booked_by=uuid4(),
        connector_id=None,
        updated_at=datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
    )
    return dataclasses.replace(row, **changes)


def a_patient(row: AppointmentRow) -> PatientCard:
    return PatientCard(
        row.patient_id, "Jeanne", "Martin", date(1980, 5, 17), "female", "j@example.org",
        "+33600000000", "fr",
    )  # fmt: skip


def a_practitioner(row: AppointmentRow) -> PractitionerCard:
    return PractitionerCard(row.practitioner_id, "Paul", "Durand", "dermatology")


MEDICAL_TEXT = MedicalText(reason="itching rash on both arms", note="allergic to penicillin")


def built(disclose: frozenset[str], medical: MedicalText | None = MEDICAL_TEXT, **changes: object):
    row = a_row(**changes)
    resource = appointment_resource(row, a_patient(row), a_practitioner(row), disclose, medical)
    Appointment.model_validate(resource)
    return row, resource


@pytest.mark.parametrize("disclose", [ADMIN, ADMIN_SENSITIVE, EVERYTHING])
def test_each_disclosure_validates_and_holds_exactly_its_classes(disclose):
    row, resource = built(disclose)
    assert classes_present(resource) == set(disclose)
    assert set(resource) <= allowed_elements(disclose)
    assert resource["id"] == str(row.appointment_id)
    assert resource["meta"]["versionId"] == "3"
    assert resource["start"] == "2025-03-04T09:30:00+01:00"
    assert resource["end"] == "2025-03-04T09:50:00+01:00"
    assert resource["minutesDuration"] == 20
    assert resource["slot"] == [{"reference": f"Slot/{row.slot_id}"}]
    assert (SENSITIVE in disclose) == bool(SENSITIVE_ELEMENTS & set(resource))
    assert (MEDICAL in disclose) == bool(MEDICAL_ELEMENTS & set(resource))


def test_participants_are_a_contained_patient_and_a_practitioner_reference():
    row, resource = built(ADMIN)
    (patient,) = resource["contained"]
    assert patient == {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [{"system": "urn:carnet:patient", "value": str(row.patient_id)}],
        "name": [{"family": "Martin", "given": ["Jeanne"]}],
        "telecom": [
            {"system": "email", "value": "j@example.org"},
            {"system": "phone", "value": "+33600000000"},
        ],
        "gender": "female",
        "birthDate": "1980-05-17",
    }
    actors = [p["actor"] for p in resource["participant"]]
    assert actors == [
        {"reference": "#patient"},
        {"reference": f"Practitioner/{row.practitioner_id}", "display": "Paul Durand"},
    ]
    assert {(p["status"], p["required"]) for p in resource["participant"]} == {
        ("accepted", "required")
    }


def test_sensitive_and_medical_elements_carry_the_texts():
    _, resource = built(EVERYTHING)
    assert resource["specialty"] == [{"text": "dermatology"}]
    assert resource["serviceType"] == [{"text": "dermatology consultation"}]
    assert resource["reasonCode"] == [{"text": "itching rash on both arms"}]
    assert resource["comment"] == "allergic to penicillin"


def test_no_medical_text_in_the_json_without_the_medical_class():
    _, resource = built(ADMIN_SENSITIVE)
    assert "rash" not in str(resource) and "penicillin" not in str(resource)


def test_medical_class_without_decrypted_text_serves_no_medical_element():
    _, resource = built(EVERYTHING, medical=None)
    assert classes_present(resource) == {ADMINISTRATIVE, SENSITIVE}
    _, resource = built(EVERYTHING, medical=MedicalText(reason=None, note=None))
    assert not MEDICAL_ELEMENTS & set(resource)


def test_destroyed_key_is_tagged_and_serves_no_medical_element():
    erased = MedicalText(reason="stale", note="stale", unreadable=True)
    _, resource = built(EVERYTHING, medical=erased)
    assert resource["meta"]["tag"] == [MEDICAL_ERASED_TAG]
    assert MEDICAL_ERASED_TAG["code"] == "medical-data-erased"
    assert not MEDICAL_ELEMENTS & set(resource)
    assert MEDICAL not in classes_present(resource)
    _, without_scope = built(ADMIN, medical=erased)
    assert "tag" not in without_scope["meta"]


def test_missing_directory_cards_still_validate():
    row = a_row()
    resource = appointment_resource(row, None, None, EVERYTHING, MEDICAL_TEXT)
    Appointment.model_validate(resource)
    assert resource["contained"] == [
        {
            "resourceType": "Patient",
            "id": "patient",
            "identifier": [{"system": "urn:carnet:patient", "value": str(row.patient_id)}],
        }
    ]
    assert resource["participant"][1]["actor"] == {
        "reference": f"Practitioner/{row.practitioner_id}"
    }
    assert "specialty" not in resource


def test_contactless_patient_has_no_telecom():
    row = a_row()
    card = dataclasses.replace(a_patient(row), email=None, phone=None)
    resource = appointment_resource(row, card, a_practitioner(row), ADMIN, None)
    Appointment.model_validate(resource)
    assert "telecom" not in resource["contained"][0]


def test_refuses_to_build_what_it_cannot_serve_honestly():
    row = a_row()
    with pytest.raises(ValueError, match="administrative"):
        appointment_resource(row, None, None, frozenset({MEDICAL}), MEDICAL_TEXT)
    with pytest.raises(ValueError, match="unknown data classes"):
        appointment_resource(row, None, None, frozenset({ADMINISTRATIVE, "genetic"}), None)
    with pytest.raises(ValueError, match="naive"):
        appointment_resource(a_row(start=datetime(2025, 3, 4, 9, 30)), None, None, ADMIN, None)


def test_an_unclassified_top_level_element_raises():
    _, resource = built(EVERYTHING)
    with pytest.raises(UnclassifiedElement, match="patientInstruction"):
        classes_present({**resource, "patientInstruction": "fast from midnight"})
    with pytest.raises(ValueError, match="not an Appointment"):
        classes_present({"resourceType": "Slot"})
    with pytest.raises(UnclassifiedElement):
        stored_field_class("diagnosis")


def test_class_table_names_real_appointment_elements():
    aliases = {f.alias for f in Appointment.model_fields.values()} | {"resourceType"}
    assert set(APPOINTMENT_ELEMENTS) <= aliases
    assert {k for k, v in APPOINTMENT_ELEMENTS.items() if v == MEDICAL} == MEDICAL_ELEMENTS
    assert {k for k, v in APPOINTMENT_ELEMENTS.items() if v == SENSITIVE} == SENSITIVE_ELEMENTS
    assert allowed_elements(EVERYTHING) == frozenset(APPOINTMENT_ELEMENTS)
    assert not allowed_elements(ADMIN) & (MEDICAL_ELEMENTS | SENSITIVE_ELEMENTS)


STORED_RECORDS = [model.PatientCard, model.PractitionerCard, model.SlotRow, model.AppointmentRow]
EVENT_SCHEMAS = [
    contract.SlotsOpenedV1, contract.SlotV1, contract.AppointmentBookedV1,
    contract.AppointmentRescheduledV1, contract.AppointmentCancelledV1, contract.SlotHeldV1,
    contract.SlotReleasedV1, contract.AppointmentStatusChangedV1,
    contract.PatientMedicalKeyDestroyedV1,
]  # fmt: skip
DIRECTORY_SCHEMAS = [
    identity_contract.PatientRegisteredV3,
    identity_contract.PractitionerRegisteredV1,
]


def test_stored_field_table_covers_every_record_and_event_field():
    names = {f.name for r in STORED_RECORDS for f in dataclasses.fields(r)}
    event_names = {n for s in EVENT_SCHEMAS for n in s._declared_fields}
    assert names | event_names <= set(STORED_FIELD_CLASSES)
    assert STORED_FIELD_CLASSES["reason"] == STORED_FIELD_CLASSES["note"] == MEDICAL
    assert STORED_FIELD_CLASSES["service_type"] == STORED_FIELD_CLASSES["specialty"] == SENSITIVE


def test_stored_field_table_agrees_with_the_contracts_metadata():
    checked = 0
    for schema in EVENT_SCHEMAS + DIRECTORY_SCHEMAS:
        for name, field in schema._declared_fields.items():
            declared = field.metadata.get("data_class")
            if declared is not None and name in STORED_FIELD_CLASSES:
                assert STORED_FIELD_CLASSES[name] == declared, (schema.__name__, name)
                checked += 1
    assert checked >= 15


def test_slot_resource_validates_free_and_busy():
    slot = SlotRow(uuid4(), uuid4(), uuid4(), START, START + timedelta(minutes=15), "consult", None)
    card = PractitionerCard(slot.practitioner_id, "Paul", "Durand", "dermatology")
    free = slot_resource(slot, card)
    Slot.model_validate(free)
    assert free["status"] == "free"
    assert free["schedule"] == {
        "reference": f"Schedule/{slot.schedule_id}",
        "display": "Paul Durand",
    }
    assert free["serviceType"] == [{"text": "consult"}]
    busy = slot_resource(dataclasses.replace(slot, appointment_id=uuid4()), None)
    Slot.model_validate(busy)
    assert busy["status"] == "busy" and "display" not in busy["schedule"]
    assert "meta" not in free  # a row the log did not explain (before migration 0031)
    held = slot_resource(dataclasses.replace(slot, updated_at=START - timedelta(days=1)), None)
    Slot.model_validate(held)
    assert held["meta"] == {"lastUpdated": instant(START - timedelta(days=1))}


def test_searchset_validates_with_entries_links_and_total():
    _, appointment = built(EVERYTHING)
    _, other = built(ADMIN)
    bundle = searchset(
        "https://carnet.example/fhir/", [appointment, other], "https://s/self", "https://s/next", 7
    )
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 7
    assert bundle["link"] == [
        {"relation": "self", "url": "https://s/self"},
        {"relation": "next", "url": "https://s/next"},
    ]
    first = bundle["entry"][0]
    assert first["fullUrl"] == f"https://carnet.example/fhir/Appointment/{appointment['id']}"
    assert first["search"] == {"mode": "match"} and first["resource"] is appointment


def test_empty_searchset_has_no_entry_and_no_next():
    bundle = searchset("https://c/fhir", [], "https://s/self", None)
    Bundle.model_validate(bundle)
    assert "entry" not in bundle and "total" not in bundle
    assert [link["relation"] for link in bundle["link"]] == ["self"]


def test_slot_searchset_validates():
    slot = SlotRow(uuid4(), uuid4(), uuid4(), START, START + timedelta(minutes=15), "consult", None)
    bundle = searchset("https://c/fhir", [slot_resource(slot, None)], "https://s/self", None)
    Bundle.model_validate(bundle)
    assert bundle["entry"][0]["fullUrl"] == f"https://c/fhir/Slot/{slot.slot_id}"


@pytest.mark.parametrize("code", sorted(ISSUE_CODES))
def test_operation_outcome_validates_for_every_issue_type(code):
    body = operation_outcome(code, "something precise")
    OperationOutcome.model_validate(body)
    assert body["issue"] == [
        {"severity": "error", "code": code, "diagnostics": "something precise"}
    ]


def test_operation_outcome_refuses_unknown_codes_and_severities():
    with pytest.raises(ValueError):
        operation_outcome("oops", "x")
    with pytest.raises(ValueError):
        operation_outcome("invalid", "x", severity="panic")
    OperationOutcome.model_validate(operation_outcome("informational", "", severity="information"))
    OperationOutcome.model_validate(FhirInputError("value", "bad").outcome())
    with pytest.raises(ValueError):
        FhirInputError("bad-request", "x")


# --- the OpenAPI document -------------------------------------------------------------------

SHARED = {"/openapi.json", "/health/live", "/health/ready", "/metrics"}  # not through the edge
DISCOVERY = {"/fhir/metadata", "/fhir/.well-known/smart-configuration"}  # public, as FHIR asks
PUBLIC = SHARED | DISCOVERY


def test_openapi_document_is_3_1_with_operations_security_and_resolvable_refs():
    doc = document(API)
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    expected = {
        ("get", "/fhir/Appointment/{appointment_id}"),
        ("patch", "/fhir/Appointment/{appointment_id}"),
        ("get", "/fhir/Appointment"),
        ("post", "/fhir/Appointment"),
        ("get", "/fhir/Slot"),
        ("post", "/v1/practitioners/{practitioner_id}/slots"),
        ("delete", "/v1/patients/{patient_id}/medical-key"),
        *(("get", p) for p in PUBLIC),
    }
    found = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert found == expected
    ids = []
    for path, operations in doc["paths"].items():
        assert operations, path
        for op in operations.values():
            ids.append(op["operationId"])
            assert any(code.startswith("2") for code in op["responses"])
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path))
            assert op["security"] == ([] if path in PUBLIC else [{"bearer": []}])
            errors = {c: r for c, r in op["responses"].items() if c.startswith("4")}
            assert bool(errors) == (path not in SHARED)
            fhir_style = path.startswith("/fhir") and "well-known" not in path
            for response in errors.values():
                media = "application/fhir+json" if fhir_style else "application/json"
                ref = response["content"][media]["schema"]["$ref"]
                assert ref.endswith("OperationOutcome" if fhir_style else "Error")
    assert len(ids) == len(set(ids))
    components = doc["components"]["schemas"]
    for schema in components.values():
        Draft202012Validator.check_schema(schema)
    refs = re.findall(r"#/components/schemas/(\w+)", str(doc))
    assert refs and set(refs) <= set(components)
    patch = doc["paths"]["/fhir/Appointment/{appointment_id}"]["patch"]["requestBody"]
    assert "application/json-patch+json" in patch["content"]
    slots = doc["paths"]["/v1/practitioners/{practitioner_id}/slots"]["post"]["requestBody"]
    assert len(slots["content"]["application/json"]["schema"]["oneOf"]) == 2


def test_openapi_open_slots_variants_match_examples():
    components = document(API)["components"]["schemas"]
    when = "2025-03-04T09:00:00+01:00"
    explicit = {"service_type": "consult", "slots": [{"start": when, "end": when}]}
    interval = {"service_type": "consult", "start": when, "end": when, "duration_minutes": 15}
    Draft202012Validator(components["OpenSlotList"]).validate(explicit)
    Draft202012Validator(components["OpenSlotInterval"]).validate(interval)
    assert not Draft202012Validator(components["OpenSlotList"]).is_valid(interval)
