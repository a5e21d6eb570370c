"""Who may see which classes of which appointment: the rules as a table."""

from __future__ import annotations

import uuid

import pytest

from services.booking.reach import (
    ADMIN_CLASSES,
    ALL_CLASSES,
    READ,
    READ_MEDICAL,
    WRITE,
    Principal,
    disclose,
    from_identity,
    may_open_slots,
    may_write,
    readable_practitioners,
    service_principal,
)

DR, OTHER_DR, PATIENT, OTHER_PATIENT = (uuid.uuid4() for _ in range(4))


def connector(*scopes: str, on=(DR,)) -> Principal:
    return Principal(
        "connector", uuid.uuid4(), frozenset(scopes), {s: frozenset(on) for s in scopes}
    )


def test_connector_sees_only_granted_agendas_and_medical_only_with_its_scope():
    admin_only, medical = connector(READ), connector(READ, READ_MEDICAL)
    assert disclose(admin_only, DR, PATIENT) == ADMIN_CLASSES
    assert disclose(medical, DR, PATIENT) == ALL_CLASSES
    assert disclose(admin_only, OTHER_DR, PATIENT) == frozenset()
    assert disclose(connector(READ_MEDICAL), DR, PATIENT) == frozenset()  # medical needs read
    assert readable_practitioners(admin_only) == frozenset({DR})
    assert readable_practitioners(connector()) == frozenset()


def test_writes_need_the_write_scope_on_that_agenda():
    assert may_write(connector(WRITE), DR, PATIENT)
    assert not may_write(connector(READ), DR, PATIENT)
    assert not may_write(connector(WRITE), OTHER_DR, PATIENT)
    assert may_open_slots(connector(WRITE), DR) and not may_open_slots(connector(READ), DR)


def test_patient_sees_and_books_only_their_own():
    p = Principal("patient", PATIENT, frozenset({"patient:self"}))
    assert disclose(p, DR, PATIENT) == ALL_CLASSES
    assert disclose(p, DR, OTHER_PATIENT) == frozenset()
    assert may_write(p, DR, PATIENT) and not may_write(p, DR, OTHER_PATIENT)
    assert not may_open_slots(p, DR)


def test_practitioner_identity_answer_gives_own_agenda():
    answer = {
        "kind": "practitioner",
        "id": str(DR),
        "scopes": [READ, WRITE],
        "reach": {READ: [str(DR)], WRITE: [str(DR)]},
        "role": None,
    }
    p = from_identity(answer)
    assert disclose(p, DR, PATIENT) == ADMIN_CLASSES
    assert disclose(p, OTHER_DR, PATIENT) == frozenset()
    assert may_open_slots(p, DR) and not may_open_slots(p, OTHER_DR)


def test_staff_admin_never_sees_medical_and_investigator_sees_nothing():
    admin = Principal("staff", uuid.uuid4(), frozenset({"identity:admin"}), {}, "admin")
    investigator = Principal("staff", uuid.uuid4(), frozenset(), {}, "investigator")
    assert disclose(admin, DR, PATIENT) == ADMIN_CLASSES
    assert readable_practitioners(admin) is None
    assert disclose(investigator, DR, PATIENT) == frozenset()
    assert not may_write(investigator, DR, PATIENT)


def test_service_principal_is_stable_and_administrative():
    assert service_principal("notification").id == service_principal("notification").id
    assert disclose(service_principal("notification"), DR, PATIENT) == ADMIN_CLASSES


def test_an_rpc_read_names_a_known_service_a_recordable_purpose_and_a_uuid():
    from services.booking.reach import RPC_CALLERS, rpc_read_request

    good = "00000000-0000-4000-8000-000000000004"
    assert str(rpc_read_request(good, "notification", "care")) == good
    assert set(RPC_CALLERS) == {"identity", "notification", "audit"}
    for appointment_id, caller, purpose, what in [
        (good, "mallory", "care", "caller"),
        (good, "booking", "care", "caller"),  # booking reads its own data without RPC
        (good, "notification", "curiosity", "purpose"),
        ("42; DROP TABLE", "notification", "care", "appointment_id"),
        (None, "notification", "care", "appointment_id"),
    ]:
        with pytest.raises(ValueError, match=what) as refused:
            rpc_read_request(appointment_id, caller, purpose)
        assert "mallory" not in str(refused.value) and "DROP" not in str(refused.value)
