"""Access records become valid FHIR R4 AuditEvents, one per patient (IHE BALP)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from fhir.resources.R4B.auditevent import AuditEvent

from services.audit.fhir_audit import audit_events

P1, P2, A1, A2, A3 = (str(uuid.uuid4()) for _ in range(5))


def record(**change):
    return {
        "access_id": str(uuid.uuid4()),
        "principal_kind": "connector",
        "principal_id": str(uuid.uuid4()),
        "network_address": "198.51.100.7",
        "user_agent": "AgendaSync/4.2",
        "request_id": "req-1",
        "operation": "search",
        "query": "GET /fhir/Appointment?practitioner=x",
        "purpose": "agenda_sync",
        "outcome": "success",
        "denial_reason": None,
        "field_classes": ["administrative", "sensitive"],
        "occurred_at": datetime(2030, 1, 2, 9, 0, tzinfo=UTC),
        **change,
    }


def test_a_search_over_two_patients_is_two_valid_audit_events():
    entries = [
        {"appointment_id": A1, "patient_id": P1},
        {"appointment_id": A2, "patient_id": P1},
        {"appointment_id": A3, "patient_id": P2},
    ]
    events = audit_events(record(), entries)
    assert len(events) == 2
    for event in events:
        AuditEvent.model_validate(event)
        assert event["action"] == "E" and event["outcome"] == "0"
        assert event["agent"][0]["network"]["address"] == "198.51.100.7"
        assert event["meta"]["lastUpdated"] == event["recorded"]  # a record never changes
    first = next(
        e
        for e in events
        if any(x.get("what", {}).get("reference") == f"Patient/{P1}" for x in e["entity"])
    )
    refs = [x["what"]["reference"] for x in first["entity"] if "what" in x]
    assert set(refs) == {f"Patient/{P1}", f"Appointment/{A1}", f"Appointment/{A2}"}
    query = next(x for x in first["entity"] if x["role"]["code"] == "24")
    assert base64.b64decode(query["query"]).decode() == "GET /fhir/Appointment?practitioner=x"
    labels = {c["code"] for x in first["entity"] for c in x.get("securityLabel", [])}
    assert labels == {"administrative", "sensitive"}


def test_a_denied_read_is_one_failed_audit_event_without_patient():
    events = audit_events(
        record(operation="read", outcome="denied", denial_reason="no grant", field_classes=[]), []
    )
    assert len(events) == 1
    AuditEvent.model_validate(events[0])
    assert events[0]["outcome"] == "4" and events[0]["outcomeDesc"] == "no grant"
    assert events[0]["action"] == "R"


def test_ids_are_stable_per_record_and_patient():
    r = record()
    entries = [{"appointment_id": A1, "patient_id": P1}]
    assert audit_events(r, entries)[0]["id"] == audit_events(r, entries)[0]["id"]


def test_a_refused_token_is_named_by_its_fingerprint_and_discloses_nothing():
    refused = record(
        principal_kind="unknown",
        principal_id=None,
        token_fingerprint="0123456789abcdef",
        operation="read",
        outcome="denied",
        denial_code="unauthenticated",
        denial_reason="unknown or expired token",
        field_classes=[],
    )
    (event,) = audit_events(refused, [])
    AuditEvent.model_validate(event)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"] == "unauthenticated: unknown or expired token"
    who = event["agent"][0]["who"]["identifier"]
    assert who == {"system": "urn:carnet:token-fingerprint", "value": "0123456789abcdef"}
    assert "None" not in str(event)
    anonymous = audit_events({**refused, "token_fingerprint": None}, [])[0]
    AuditEvent.model_validate(anonymous)
    assert "who" not in anonymous["agent"][0]


def test_a_refused_read_names_no_entity_it_aimed_at():
    """Targets stay in the index: the export of a refusal discloses no patient or appointment."""
    aimed = [{"appointment_id": A1, "patient_id": P1}]
    for code in ("reach", "not_found", "quota"):
        refused = record(outcome="denied", denial_code=code, denial_reason=None, field_classes=[])
        (event,) = audit_events(refused, aimed)
        AuditEvent.model_validate(event)
        assert event["outcomeDesc"] == code
        assert [x["role"]["code"] for x in event["entity"]] == ["24"]  # the query only
