"""Booking's use cases on a Ctx against the real PostgreSQL: no HTTP, no nameko, no broker.

Given a directory and an agenda, when a command or a query runs, then these events, rows and
access records exist (or this refusal, and nothing served).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.booking import commands, directory, evidence, queries
from services.booking.access import AccessRecorder, RecordingFailed, RequestInfo
from services.booking.commands import Denied
from services.booking.context import Ctx
from services.booking.crypto import KeyRing, MasterKey, generate_master_key_b64
from services.booking.fhir_input import NewAppointment
from services.booking.fhir_search import AppointmentQuery
from services.booking.reach import READ, READ_MEDICAL, WRITE, Principal
from services.common.errors import Conflict, NotFound, Unauthorized
from services.common.eventstore.store import EventStore

INFO = RequestInfo("192.0.2.10", "use-case-test", "req-use-case", "GET /fhir/Appointment")


@pytest.fixture
def ctx(pool: ConnectionPool) -> Ctx:
    store = EventStore(pool, "booking")
    keys = KeyRing(pool, MasterKey.from_b64(generate_master_key_b64()))
    return Ctx(pool, store, keys, AccessRecorder(store))


@pytest.fixture
def agenda(ctx: Ctx) -> dict[str, uuid.UUID]:
    """A practitioner and a patient in booking's directory, and four open slots."""
    practitioner, patient = uuid.uuid4(), uuid.uuid4()
    with ctx.pool.connection() as conn:
        directory.apply_practitioner(
            conn,
            {
                "practitioner_id": practitioner,
                "given_name": "Dr",
                "family_name": "Synthetic",
                "specialty": "dermatology",
            },
        )
        directory.apply_patient(
            conn,
            {
                "patient_id": patient,
                "given_name": "Test",
                "family_name": "Patient",
                "birth_date": date(1990, 1, 1),
                "gender": "female",
                "email": "pt@example.org",
                "phone": "+33600000000",
                "preferred_language": "fr",
            },
        )
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    intervals = [
        (start + timedelta(minutes=20 * i), start + timedelta(minutes=20 * (i + 1)))
        for i in range(4)
    ]
    admin = Principal("staff", uuid.uuid4(), role="admin")
    slots = commands.open_slots(ctx, admin, practitioner, "consultation", intervals)
    return {"practitioner": practitioner, "patient": patient, "slot": slots[0].slot_id}


def connector(practitioner: uuid.UUID, *scopes: str) -> Principal:
    return Principal(
        "connector", uuid.uuid4(), frozenset(scopes), {s: frozenset({practitioner}) for s in scopes}
    )


def access_records(url: str, principal: Principal) -> list[dict]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT data FROM booking.events WHERE event_type = 'AppointmentsAccessed'"
            " AND data->>'principal_id' = %s ORDER BY position",
            (str(principal.id),),
        ).fetchall()
    return [r[0] for r in rows]


def test_a_booked_appointment_is_read_with_its_record_first(ctx, agenda, migrated_database_url):
    writer = connector(agenda["practitioner"], READ, WRITE)
    new = NewAppointment(agenda["slot"], agenda["patient"], "synthetic reason", None)
    appointment_id = commands.book(ctx, writer, new)
    resource, access_id = queries.read_one(ctx, writer, appointment_id, INFO)
    assert resource["id"] == str(appointment_id) and resource["status"] == "booked"
    assert "reasonCode" not in resource  # no medical scope: the sealed reason stays sealed
    (record,) = access_records(migrated_database_url, writer)
    assert record["access_id"] == str(access_id) and record["outcome"] == "success"
    assert record["appointment_ids"] == [str(appointment_id)]
    assert "medical" not in record["field_classes"]


def test_the_medical_scope_opens_the_reason_and_the_record_says_so(ctx, agenda):
    reader = connector(agenda["practitioner"], READ, WRITE, READ_MEDICAL)
    new = NewAppointment(agenda["slot"], agenda["patient"], "synthetic reason", None)
    appointment_id = commands.book(ctx, reader, new)
    resource, _ = queries.read_one(ctx, reader, appointment_id, INFO)
    assert resource["reasonCode"] == [{"text": "synthetic reason"}]


def test_a_second_booking_of_the_slot_is_a_conflict(ctx, agenda):
    writer = connector(agenda["practitioner"], READ, WRITE)
    new = NewAppointment(agenda["slot"], agenda["patient"], None, None)
    commands.book(ctx, writer, new)
    with pytest.raises(Conflict):
        commands.book(ctx, writer, NewAppointment(agenda["slot"], agenda["patient"], None, None))


def test_outside_reach_is_denied_and_the_caller_records_it(ctx, agenda, migrated_database_url):
    writer = connector(agenda["practitioner"], READ, WRITE)
    appointment_id = commands.book(
        ctx, writer, NewAppointment(agenda["slot"], agenda["patient"], None, None)
    )
    stranger = connector(uuid.uuid4(), READ)
    with pytest.raises(Denied) as refused:
        queries.read_one(ctx, stranger, appointment_id, INFO)
    assert access_records(migrated_database_url, stranger) == []  # the use case only refuses
    evidence.record_refusal(ctx, stranger, INFO, "read", refused.value)  # what the Site does
    (record,) = access_records(migrated_database_url, stranger)
    assert record["outcome"] == "denied" and record["appointment_ids"] == []
    assert record["practitioner_ids"] == [str(agenda["practitioner"])]
    assert record["denial_code"] == "reach"
    assert record["targets"] == [
        {
            "appointment_id": str(appointment_id),
            "patient_id": str(agenda["patient"]),
            "practitioner_id": str(agenda["practitioner"]),
        }
    ]


def test_a_search_is_recorded_even_when_empty(ctx, agenda, migrated_database_url):
    reader = connector(agenda["practitioner"], READ)
    query = AppointmentQuery((), None, None, None, (), 20, None)
    resources, cursor, _ = queries.search(ctx, reader, query, INFO)
    assert (resources, cursor) == ([], None)
    (record,) = access_records(migrated_database_url, reader)
    assert record["result_count"] == 0 and record["outcome"] == "success"


def test_nothing_is_served_when_the_record_cannot_be_committed(ctx, agenda, migrated_database_url):
    writer = connector(agenda["practitioner"], READ, WRITE)
    new = NewAppointment(agenda["slot"], agenda["patient"], None, None)
    appointment_id = commands.book(ctx, writer, new)
    # A store whose role may not write booking's events: the INSERT really fails.
    other_role = make_conninfo(migrated_database_url, user="carnet_notification")
    refused = EventStore(lambda: psycopg.connect(other_role), "booking")
    failing = Ctx(ctx.pool, ctx.store, ctx.keys, AccessRecorder(refused))
    with pytest.raises(RecordingFailed):
        queries.read_one(failing, writer, appointment_id, INFO)
    assert access_records(migrated_database_url, writer) == []


def test_erasing_the_medical_key_of_an_unknown_patient_is_not_found_and_appends_nothing(
    ctx, migrated_database_url
):
    admin = Principal("staff", uuid.uuid4(), role="admin")
    unknown = uuid.uuid4()
    with pytest.raises(NotFound):
        commands.destroy_medical_key(ctx, admin, unknown, "erasure request")
    with psycopg.connect(migrated_database_url) as conn:
        stream = f"patient-key-{unknown}"
        count = conn.execute("SELECT count(*) FROM booking.events WHERE stream_id = %s", (stream,))
        assert count.fetchone()[0] == 0


def test_erasing_a_known_patients_key_is_idempotent(ctx, agenda):
    admin = Principal("staff", uuid.uuid4(), role="admin")
    reader = connector(agenda["practitioner"], READ, WRITE, READ_MEDICAL)
    new = NewAppointment(agenda["slot"], agenda["patient"], "synthetic reason", None)
    commands.book(ctx, reader, new)  # seals the reason: the patient now has a key
    key_id = commands.destroy_medical_key(ctx, admin, agenda["patient"], "erasure")
    assert key_id is not None
    assert commands.destroy_medical_key(ctx, admin, agenda["patient"], "again") == key_id


def test_an_unknown_id_is_refused_and_the_caller_records_it(ctx, migrated_database_url):
    reader = connector(uuid.uuid4(), READ)
    ghost = uuid.uuid4()
    with pytest.raises(NotFound) as refused:
        queries.read_one(ctx, reader, ghost, INFO)
    evidence.record_refusal(ctx, reader, INFO, "read", refused.value)
    (record,) = access_records(migrated_database_url, reader)
    assert (record["outcome"], record["denial_code"], record["targets"]) == (
        "denied",
        "not_found",
        [],
    )


def test_a_refused_token_is_recorded_with_no_principal(ctx, migrated_database_url):
    info = replace(INFO, request_id=f"req-{uuid.uuid4()}", token_fingerprint="0123456789abcdef")
    evidence.record_refusal(ctx, None, info, "search", Unauthorized("token refused: revoked"))
    with psycopg.connect(migrated_database_url) as conn:
        ((version, record),) = conn.execute(
            "SELECT schema_version, data FROM booking.events WHERE data->>'request_id' = %s",
            (info.request_id,),
        ).fetchall()
    REGISTRY.validate_for_publish("AppointmentsAccessed", record, version)
    assert (record["principal_kind"], record["principal_id"], record["connector_id"]) == (
        "unknown",
        None,
        None,
    )
    assert record["token_fingerprint"] == "0123456789abcdef"
    assert record["denial_reason"] == "token refused: revoked"
