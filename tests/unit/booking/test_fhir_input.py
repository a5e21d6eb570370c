"""Connector input: good bookings, patches and searches parse; everything else is a precise 400."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from services.booking.classes import ADMINISTRATIVE
from services.booking.fhir import appointment_resource
from services.booking.fhir_input import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Change,
    FhirInputError,
    NewAppointment,
    decode_cursor,
    encode_cursor,
    parse_appointment_search,
    parse_new_appointment,
    parse_slot_search,
    parse_status_patch,
)
from services.booking.model import AppointmentRow, PatientCard, PractitionerCard
from tests.support.fhir_bodies import appointment

SLOT, PATIENT, DOCTOR = uuid4(), uuid4(), uuid4()
OK = {"status": "accepted"}


def booking(**changes: object) -> dict:
    return appointment(SLOT, PATIENT, **changes)


def refused(fn, arg) -> FhirInputError:
    with pytest.raises(FhirInputError) as caught:
        fn(arg)
    assert caught.value.kind == "invalid"  # a 400 at the edge
    return caught.value


# --- booking ------------------------------------------------------------------------------


def test_minimal_booking():
    new = parse_new_appointment(booking())
    assert new == NewAppointment(
        slot_id=SLOT,
        patient_id=PATIENT,
        reason=None,
        comment=None,
        practitioner_id=None,
        start=datetime(2025, 3, 4, 8, 30, tzinfo=UTC),
        end=datetime(2025, 3, 4, 8, 50, tzinfo=UTC),
    )


def test_booking_with_medical_texts_practitioner_and_duration():
    new = parse_new_appointment(
        booking(
            reasonCode=[{"text": "rash"}],
            comment="allergic to penicillin",
            minutesDuration=20,
            participant=[
                {"actor": {"reference": f"Practitioner/{DOCTOR}"}, "status": "accepted"},
                {"actor": {"reference": f"Patient/{PATIENT}"}, "status": "accepted"},
            ],
        )
    )
    assert (new.reason, new.comment) == ("rash", "allergic to penicillin")
    assert new.practitioner_id == DOCTOR


def test_proposed_booking_needs_no_time_and_blank_texts_are_absent():
    new = parse_new_appointment(
        booking(status="proposed", start=..., end=..., comment="  ", reasonCode=[{"text": " "}])
    )
    assert (new.start, new.end, new.reason, new.comment) == (None, None, None, None)


def test_patient_as_contained_resource_or_identifier():
    ident = {"system": "urn:carnet:patient", "value": str(PATIENT)}
    contained = booking(
        contained=[{"resourceType": "Patient", "id": "p1", "identifier": [ident]}],
        participant=[{"actor": {"reference": "#p1"}, "status": "accepted"}],
    )
    assert parse_new_appointment(contained).patient_id == PATIENT
    by_identifier = booking(participant=[{"actor": {"identifier": ident}, "status": "accepted"}])
    assert parse_new_appointment(by_identifier).patient_id == PATIENT


def test_an_administrative_resource_we_served_can_be_posted_back():
    start = datetime(2025, 3, 4, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    row = AppointmentRow(
        uuid4(), 2, SLOT, DOCTOR, PATIENT, start, start + timedelta(minutes=20), "booked",
        "consult", None, None, uuid4(), None, start,
    )  # fmt: skip
    patient = PatientCard(PATIENT, "Jeanne", "Martin", start.date(), "female", None, None, "fr")
    doctor = PractitionerCard(DOCTOR, "Paul", "Durand", "dermatology")
    served = appointment_resource(row, patient, doctor, frozenset({ADMINISTRATIVE}), None)
    new = parse_new_appointment(served)
    assert (new.slot_id, new.patient_id, new.practitioner_id) == (SLOT, PATIENT, DOCTOR)
    assert (new.start, new.end) == (row.start, row.end)


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ([], "structure", "JSON object"),
        ("Appointment", "structure", "JSON object"),
        (None, "structure", "JSON object"),
        ({"resourceType": "Patient"}, "structure", "FHIR Appointment"),
        (booking(foo=1), "structure", "Appointment.foo"),
        (booking(status=...), "required", "Appointment.status"),
        (booking(comment=None), "structure", "null"),
        (booking(start="2025-03-04T09:30:00", end="2025-03-04T09:50:00"), "structure", "start"),
        (
            booking(participant=[{"actor": {"reference": 5}, "status": "accepted"}]),
            "structure",
            "Appointment.participant[0].actor.reference",
        ),
        (booking(status="arrived"), "value", "booked or proposed"),
        (booking(slot=...), "required", "exactly one Slot"),
        (booking(slot=[{"reference": f"Slot/{SLOT}"}] * 2), "required", "exactly one Slot"),
        (booking(slot=[{"reference": f"Practitioner/{SLOT}"}]), "value", "Slot/<uuid>"),
        (booking(slot=[{"reference": "Slot/42"}]), "value", "Slot/<uuid>"),
        (booking(participant=[{"actor": {"reference": f"Practitioner/{DOCTOR}"}, **OK}]),
         "required", "exactly one Patient"),
        (booking(participant=[{"actor": {"reference": f"Patient/{PATIENT}"}, **OK}] * 2),
         "required", "exactly one Patient"),
        (booking(participant=[{"actor": {"reference": "Location/x"}, **OK}]), "not-supported",
         "participant[0].actor"),
        (booking(participant=[{"status": "accepted"}]), "required", "participant[0].actor"),
        (booking(participant=[{"actor": {"reference": f"Patient/{PATIENT}"}}]), "required",
         "Appointment.participant[0].status"),
        (booking(contained=[{"resourceType": "Foo", "id": "f"}]), "not-supported", "contained"),
        (booking(contained=[{"resourceType": "Location", "id": "l"}]), "not-supported",
         "contained"),
        (booking(contained=[{"resourceType": "Patient", "id": "x"}]), "invariant", "dom-3"),
        (
            booking(
                contained=[{"resourceType": "Patient", "id": "p"}],
                participant=[{"actor": {"reference": "#p"}, **OK}],
            ),
            "required",
            "urn:carnet:patient",
        ),
        (booking(end=...), "invariant", "app-2"),
        (booking(start=..., end=...), "invariant", "app-3"),
        (booking(end="2025-03-04T09:00:00+01:00"), "value", "after start"),
        (booking(minutesDuration=30), "value", "minutesDuration"),
        (booking(reasonCode=[{"text": "a"}, {"text": "b"}]), "not-supported", "reasonCode"),
        (booking(reasonCode=[{"coding": [{"code": "x"}], "text": "a"}]), "not-supported",
         "coding"),
        (booking(serviceType=[{"text": "consult"}]), "not-supported", "serviceType"),
        (booking(specialty=[{"text": "derm"}]), "not-supported", "specialty"),
        (
            booking(
                participant=[
                    {"actor": {"reference": f"Patient/{PATIENT}"}, **OK,
                     "modifierExtension": [{"url": "http://x", "valueBoolean": True}]}
                ]
            ),
            "not-supported",
            "modifierExtension",
        ),
    ],
)  # fmt: skip
def test_bad_bookings_are_refused_with_the_element_named(body, code, says):
    error = refused(parse_new_appointment, body)
    assert (error.code, says in error.diagnostics) == (code, True), error.diagnostics


def test_medical_text_lengths_are_bounded_and_never_echoed():
    ok = parse_new_appointment(booking(reasonCode=[{"text": "r" * 1000}], comment="c" * 4000))
    assert len(ok.reason) == 1000 and len(ok.comment) == 4000
    secret = "confidential diagnosis "
    error = refused(parse_new_appointment, booking(reasonCode=[{"text": secret * 50}]))
    assert error.code == "too-long" and "1000" in error.diagnostics
    assert "confidential" not in error.diagnostics
    error = refused(parse_new_appointment, booking(comment=secret * 200))
    assert error.code == "too-long" and "confidential" not in error.diagnostics
    error = refused(parse_new_appointment, booking(comment=secret, extra=secret))
    assert "confidential" not in error.diagnostics


def test_error_becomes_an_operation_outcome():
    error = refused(parse_new_appointment, [])
    assert error.outcome()["issue"][0]["code"] == "structure"


# --- JSON Patch -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["arrived", "fulfilled", "cancelled", "noshow"])
def test_status_patch(status):
    ops = [{"op": "replace", "path": "/status", "value": status}]
    assert parse_status_patch(ops) == Change(status=status, slot_id=None, expected_version=None)


def test_reschedule_patch_with_version_test():
    slot = uuid4()
    for version in ("4", 4):
        ops = [
            {"op": "test", "path": "/meta/versionId", "value": version},
            {"op": "replace", "path": "/slot/0/reference", "value": f"Slot/{slot}"},
        ]
        assert parse_status_patch(ops) == Change(status=None, slot_id=slot, expected_version=4)


@pytest.mark.parametrize(
    ("ops", "code", "says"),
    [
        ({"op": "replace"}, "structure", "JSON Patch array"),
        ([], "structure", "JSON Patch array"),
        (["replace"], "structure", "JSON Patch array"),
        ([{"op": ["replace"], "path": "/status", "value": "arrived"}], "structure", "string"),
        ([{"op": "add", "path": "/comment", "value": "x"}], "not-supported", "operation 0"),
        ([{"op": "remove", "path": "/status"}], "not-supported", "replace /status"),
        ([{"op": "replace", "path": "/start", "value": "x"}], "not-supported", "operation 0"),
        ([{"op": "test", "path": "/status", "value": "booked"}], "not-supported", "operation 0"),
        ([{"op": "replace", "path": "/status"}], "required", "value"),
        ([{"op": "replace", "path": "/status", "value": "booked"}], "value", "arrived"),
        ([{"op": "replace", "path": "/status", "value": None}], "value", "arrived"),
        ([{"op": "replace", "path": "/slot/0/reference", "value": "Slot/x"}], "value", "Slot/"),
        ([{"op": "replace", "path": "/slot/0/reference", "value": None}], "value", "Slot/"),
        (
            [{"op": "replace", "path": "/status", "value": "arrived"},
             {"op": "replace", "path": "/slot/0/reference", "value": f"Slot/{uuid4()}"}],
            "not-supported",
            "not both",
        ),
        (
            [{"op": "replace", "path": "/status", "value": "arrived"},
             {"op": "replace", "path": "/status", "value": "fulfilled"}],
            "not-supported",
            "repeats",
        ),
        ([{"op": "test", "path": "/meta/versionId", "value": "3"}], "required", "changes nothing"),
        (
            [{"op": "test", "path": "/meta/versionId", "value": "three"},
             {"op": "replace", "path": "/status", "value": "arrived"}],
            "value",
            "version",
        ),
    ],
)  # fmt: skip
def test_bad_patches_are_refused(ops, code, says):
    error = refused(parse_status_patch, ops)
    assert (error.code, says in error.diagnostics) == (code, True), error.diagnostics


@pytest.mark.parametrize("version", ["0", "-1", True, 0, 1.5, "1e3"])
def test_version_test_needs_a_positive_version(version):
    ops = [
        {"op": "test", "path": "/meta/versionId", "value": version},
        {"op": "replace", "path": "/status", "value": "arrived"},
    ]
    assert refused(parse_status_patch, ops).code == "value"


# --- searches -------------------------------------------------------------------------------


def test_empty_search_has_defaults():
    q = parse_appointment_search([])
    assert (q.practitioner_ids, q.patient_id, q.date_from, q.date_to) == ((), None, None, None)
    assert (q.statuses, q.count, q.cursor) == ((), DEFAULT_PAGE, None)


def test_full_appointment_search():
    a, b = uuid4(), uuid4()
    q = parse_appointment_search(
        [
            ("practitioner", f"Practitioner/{a}"),
            ("practitioner", f"{b},Practitioner/{a}"),
            ("patient", f"Patient/{PATIENT}"),
            ("date", "ge2025-03-01"),
            ("date", "lt2025-04-01T00:00:00+02:00"),
            ("status", "booked,arrived"),
            ("status", "booked"),
            ("_count", "50"),
        ]
    )
    assert q.practitioner_ids == (a, b)
    assert q.patient_id == PATIENT
    assert q.date_from == datetime(2025, 3, 1, tzinfo=UTC)
    assert q.date_to == datetime(2025, 3, 31, 22, tzinfo=UTC)
    assert (q.statuses, q.count) == (("booked", "arrived"), 50)
    assert parse_appointment_search([("patient", str(PATIENT))]).patient_id == PATIENT


DAY = datetime(2025, 3, 4, tzinfo=UTC)
NEXT = DAY + timedelta(days=1)
T = datetime(2025, 3, 4, 10, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("values", "lower", "upper"),
    [
        (["ge2025-03-04"], DAY, None),
        (["gt2025-03-04"], NEXT, None),
        (["lt2025-03-04"], None, DAY),
        (["le2025-03-04"], None, NEXT),
        (["2025-03-04"], DAY, NEXT),
        (["eq2025-03-04"], DAY, NEXT),
        (["ge2025-03-04T10:00:00Z"], T, None),
        (["gt2025-03-04T10:00:00Z"], T + TICK, None),
        (["lt2025-03-04T11:00:00+01:00"], None, T),
        (["le2025-03-04T10:00:00Z"], None, T + TICK),
        (["ge2025-03-04T11:00+01:00"], T, None),
        (["ge2025-03-04T11:00:00 01:00"], T, None),  # "+" decoded as a space
        (["ge2025-03-04T10:00:00.5Z", "lt2025-03-05"], T + timedelta(seconds=0.5), NEXT),
    ],
)
def test_date_bounds(values, lower, upper):
    q = parse_appointment_search([("date", v) for v in values])
    assert (q.date_from, q.date_to) == (lower, upper)


@pytest.mark.parametrize(
    ("params", "code", "says"),
    [
        ([("date", "ge2025-03-04T10:00:00")], "value", "ambiguous"),
        ([("date", "2025-03-04T10:00")], "value", "ambiguous"),
        ([("date", "ge2025-02-30")], "value", "not a valid date"),
        ([("date", "ge2025-03")], "value", "YYYY-MM-DD"),
        ([("date", "ge04/03/2025")], "value", "YYYY-MM-DD"),
        ([("date", "sa2025-03-04")], "not-supported", "prefix"),
        ([("date", "ge2025-03-04"), ("date", "gt2025-03-05")], "value", "twice"),
        ([("date", "ge2025-03-05"), ("date", "lt2025-03-05")], "value", "empty"),
        ([("_sort", "date")], "not-supported", "'_sort'"),
        ([("practitioner:missing", "true")], "not-supported", "practitioner:missing"),
        ([("service-type", "x")], "not-supported", "service-type"),
        ([("practitioner", "Practitioner/42")], "value", "practitioner"),
        ([("practitioner", f"Patient/{PATIENT}")], "value", "practitioner"),
        ([("patient", f"{PATIENT},{uuid4()}")], "value", "patient"),
        ([("patient", str(PATIENT)), ("patient", str(uuid4()))], "value", "only once"),
        ([("patient", "")], "value", "empty"),
        ([("status", "waitlist")], "value", "status"),
        ([("status", "booked,")], "value", "status"),
        ([("_count", "0")], "value", "_count"),
        ([("_count", "-1")], "value", "_count"),
        ([("_count", "ten")], "value", "_count"),
        ([("_count", "1.5")], "value", "_count"),
        ([("_count", "5"), ("_count", "6")], "value", "only once"),
        ([("_cursor", "not a cursor")], "value", "_cursor"),
    ],
)
def test_bad_appointment_searches(params, code, says):
    error = refused(parse_appointment_search, params)
    assert (error.code, says in error.diagnostics) == (code, True), error.diagnostics


@pytest.mark.parametrize(("given", "served"), [("1", 1), ("100", MAX_PAGE), ("101", MAX_PAGE),
                                               ("5000", MAX_PAGE)])  # fmt: skip
def test_count_is_capped(given, served):
    assert parse_appointment_search([("_count", given)]).count == served


def test_slot_search():
    a = uuid4()
    q = parse_slot_search([("practitioner", str(a)), ("start", "ge2025-03-04"), ("_count", "3")])
    assert (q.practitioner_ids, q.start_from, q.start_to, q.count) == ((a,), DAY, None, 3)
    assert (q.statuses, q.free_only) == (("free",), True)
    both = parse_slot_search([("status", "free,busy")])
    assert (both.statuses, both.free_only) == (("free", "busy"), False)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ([("status", "busy")], "not-supported"),
        ([("status", "busy-tentative")], "value"),
        ([("date", "ge2025-03-04")], "not-supported"),
        ([("patient", str(PATIENT))], "not-supported"),
        ([("start", "ge2025-03-04T09:00:00")], "value"),
        ([("_count", "0")], "value"),
    ],
)
def test_bad_slot_searches(params, code):
    assert refused(parse_slot_search, params).code == code


# --- cursors --------------------------------------------------------------------------------


def test_cursor_round_trip_keeps_instant_offset_and_id():
    when = datetime(2025, 3, 4, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    row_id = uuid4()
    text = encode_cursor(when, row_id)
    assert "=" not in text and text.isascii()
    assert decode_cursor(text) == (when, row_id)
    assert decode_cursor(text)[0].utcoffset() == timedelta(hours=1)
    q = parse_appointment_search([("_cursor", text)])
    assert q.cursor == text


def _b64(payload: object) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "!!!",
        "a" * 401,
        _b64(b"not json"),
        _b64(b"\xff\xfe"),
        _b64([1, 2]),
        _b64("a string"),
        _b64({"s": "2025-03-04T09:30:00", "i": str(uuid4())}),
        _b64({"s": "2025-03-04T09:30:00Z", "i": "nope"}),
        _b64({"s": "2025-03-04T09:30:00Z", "i": 5}),
        _b64({"s": 5, "i": str(uuid4())}),
        _b64({"s": "2025-03-04T09:30:00Z"}),
        _b64({"s": "2025-03-04T09:30:00Z", "i": str(uuid4()), "x": 1}),
    ],
)
def test_bad_cursors_are_400(text):
    error = refused(decode_cursor, text)
    assert error.code == "value" and "_cursor" in error.diagnostics


def test_naive_cursor_time_cannot_be_encoded():
    with pytest.raises(ValueError):
        encode_cursor(datetime(2025, 3, 4, 9, 30), uuid4())
