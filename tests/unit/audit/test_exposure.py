"""Exposure is folded from what reads returned: own data out, overlaps once, per subject exact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import ValidationError

from services.audit import exposure
from services.audit.schemas import IncidentIn, subjects_in
from services.audit.subjects import Resolved, Scope, Subject, parse
from services.common.errors import Invalid

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
ME, DOCTOR, OTHER, A1, A2, A3, C1 = (uuid.uuid4() for _ in range(7))


def entry(kind: str, principal: uuid.UUID, appointment: uuid.UUID, patient: uuid.UUID,
          practitioner: uuid.UUID = DOCTOR, minute: int = 0, subjects=(0,)) -> dict:  # fmt: skip
    return {
        "principal_kind": kind, "principal_id": principal, "connector_id": None,
        "appointment_id": appointment, "patient_id": patient, "practitioner_id": practitioner,
        "occurred_at": T0 + timedelta(minutes=minute), "field_classes": ["administrative"],
        "medical_decrypted": False, "subjects": list(subjects),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "principal", "own"),
    [
        ("patient", ME, True),  # a patient reading its own appointment
        ("patient", OTHER, False),  # …or someone else's
        ("practitioner", DOCTOR, True),  # a practitioner reading its own agenda
        ("practitioner", OTHER, False),
        ("connector", ME, False),  # connectors, staff and unknown principals own no data
        ("staff", ME, False),
        ("unknown", None, False),
    ],
)
def test_own_data_is_a_patients_own_appointment_or_a_practitioners_own_agenda(kind, principal, own):
    assert exposure.is_own(entry(kind, principal, A1, ME)) is own


def test_an_appointment_read_twice_by_two_subjects_is_one_line_with_both():
    rows = [
        entry("connector", C1, A1, ME, minute=1, subjects=(0,)),
        entry("connector", C1, A1, ME, minute=3, subjects=(0, 1)),
        entry("connector", C1, A2, OTHER, minute=2, subjects=(1,)),
    ]
    lines = exposure.per_appointment(rows)
    assert [line["appointment_id"] for line in lines] == [str(A1), str(A2)]
    assert lines[0]["reads"] == 2 and lines[0]["subjects"] == {0, 1}
    assert lines[0]["last_read_at"] == T0 + timedelta(minutes=3)
    patients = exposure.per_patient(lines, ["connector:a", "address:b"])
    assert [p["subjects"] for p in patients if p["patient_id"] == str(ME)] == [
        ["connector:a", "address:b"]
    ]
    total = exposure.summary(lines)
    assert (total["appointment_count"], total["patient_count"]) == (2, 2)


def test_a_scope_matches_records_by_connector_principal_or_address():
    vendor = Resolved(Subject("vendor", "Acme"), "vendor Acme", "connector", (C1,))
    home = Resolved(Subject("address", "192.0.2.1"), "network address", addresses=("192.0.2.1",))
    me = Resolved(Subject("principal", str(ME)), f"patient {ME}", "patient")
    scope = Scope.of([vendor, home, me])
    record = {"connector_id": C1, "principal_id": C1, "network_address": "192.0.2.1"}
    assert scope.matches(record) == [0, 1]
    assert scope.matches({"connector_id": None, "principal_id": ME, "network_address": "x"}) == [2]
    assert scope.matches({"connector_id": None, "principal_id": None, "network_address": "x"}) == []
    assert scope.connectors == [C1] and scope.principals == [ME]


def body(**over) -> dict:
    return {"title": "t", "from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z",
            "aware_at": "2030-01-02T00:00:00Z", **over}  # fmt: skip


def test_an_incident_names_subjects_or_the_one_subject_shorthand_never_both_nor_none():
    many = IncidentIn().load(body(subjects=[{"kind": "address", "value": "192.0.2.1"},
                                            {"kind": "vendor", "value": "Acme"}]))  # fmt: skip
    assert [s["kind"] for s in subjects_in(many)] == ["address", "vendor"]
    short = IncidentIn().load(body(connector_id=str(C1)))
    assert subjects_in(short) == [{"kind": "connector", "value": str(C1)}]
    for bad in (
        body(),
        body(subjects=[]),
        body(subjects=[{"kind": "planet", "value": "x"}]),
        body(subjects=[{"kind": "vendor"}]),
        body(subjects=[{"kind": "vendor", "value": "x", "extra": 1}]),
        body(connector_id=str(C1), principal_id=str(ME)),
        body(connector_id=str(C1), subjects=[{"kind": "vendor", "value": "x"}]),
    ):
        with pytest.raises(ValidationError):
            IncidentIn().load(bad)


@pytest.mark.parametrize(
    "raw",
    [
        [{"kind": "address", "value": "999.1.1.1"}],
        [{"kind": "principal", "value": "me"}],
        [{"kind": "vendor", "value": " "}],
        [{"kind": "vendor", "value": str(n)} for n in range(51)],
        [],
    ],
)
def test_malformed_subject_sets_are_refused(raw):
    with pytest.raises(Invalid):
        parse(raw)
