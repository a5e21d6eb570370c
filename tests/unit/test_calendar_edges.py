"""Every date parameter of every service, at the calendar's edges and any offset: an answer or
a 400 (Invalid), never the OverflowError that used to be a 500 (issue #18)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from services.audit.fhir_export import parse_dates
from services.audit.schemas import IncidentIn
from services.booking.fhir_input import parse_new_appointment
from services.booking.fhir_search import parse_appointment_search, parse_slot_search
from services.booking.schemas import OpenSlotInterval
from services.common.errors import Invalid
from services.common.http.body import parse_instant
from services.identity.schemas import PatientIn, QuotaIn
from tests.support.fhir_bodies import appointment

PREFIXES = ("eq", "ge", "gt", "le", "lt")


@st.composite
def edge_texts(draw: st.DrawFn) -> str:
    """An ISO 8601 date or dateTime near year 1 or year 9999, with any offset or Z."""
    year = draw(st.sampled_from([1, 2, 9998, 9999]))
    month = draw(st.sampled_from([1, 12]))
    day = draw(st.sampled_from([1, 31]))
    if draw(st.booleans()):
        return f"{year:04d}-{month:02d}-{day:02d}"
    hour, minute = draw(st.sampled_from([0, 23])), draw(st.sampled_from([0, 59]))
    fraction = draw(st.sampled_from(["", ":59", ":59.999999", ":00.000001"]))
    sign = draw(st.sampled_from(["+", "-"]))
    offset = draw(st.sampled_from(["Z", f"{sign}00:00", f"{sign}01:00", f"{sign}14:00"]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}{fraction}{offset}"


def answered_or_invalid(call) -> None:
    """The call returns, or refuses with Invalid: nothing else may escape to the edge."""
    with contextlib.suppress(Invalid):
        call()


@given(st.lists(st.tuples(st.sampled_from(PREFIXES), edge_texts()), min_size=1, max_size=2))
def test_booking_searches_answer_or_refuse(bounds):
    for name, parse in (("date", parse_appointment_search), ("start", parse_slot_search)):
        answered_or_invalid(lambda: parse([(name, p + t) for p, t in bounds]))  # noqa: B023


@given(st.lists(st.tuples(st.sampled_from(PREFIXES), edge_texts()), min_size=1, max_size=2))
def test_a_delta_syncs_last_updated_answers_or_refuses(bounds):
    answered_or_invalid(
        lambda: parse_appointment_search([("_lastUpdated", p + t) for p, t in bounds])
    )


SEARCHES = (
    (parse_appointment_search, "date"),
    (parse_appointment_search, "_lastUpdated"),
    (parse_slot_search, "start"),
)


@pytest.mark.parametrize(("parse", "name"), SEARCHES)
@pytest.mark.parametrize(
    "value",
    ["gt9999-12-31T23:59:59.999999Z", "ge9999-12-31T23:00:00-05:00", "eq0001-01-01T00:00:00+14:00"],
)
def test_a_refused_search_date_names_its_parameter(parse, name, value):
    with pytest.raises(Invalid) as caught:
        parse([(name, value)])
    assert name in str(caught.value)


def test_a_refused_audit_event_date_names_its_parameter():
    with pytest.raises(Invalid, match="date"):
        parse_dates(["ge9999-12-31T23:00:00-05:00"])


@given(edge_texts(), edge_texts())
def test_a_posted_appointments_start_and_end_answer_or_refuse(start, end):
    body = appointment(UUID(CONNECTOR), UUID(CONNECTOR), start=start, end=end)
    try:
        new = parse_new_appointment(body)
    except Invalid as refusal:
        assert "Appointment" in str(refusal) or "start" in str(refusal) or "end" in str(refusal)
        return
    assert new.start.tzinfo is UTC and new.end.tzinfo is UTC


@given(st.sampled_from(["0001-01-01", "9999-12-31", "10000-01-01", "0000-12-31", "-0001-01-01"]))
def test_a_birth_date_at_the_calendars_edges_loads_or_is_a_validation_error(text):
    body = {"given_name": "A", "family_name": "B", "birth_date": text, "gender": "female"}
    try:
        PatientIn().load(body)
    except ValidationError as error:
        assert "birth_date" in error.messages


@given(edge_texts())
def test_a_quotas_end_loads_in_utc_or_is_a_validation_error(until):
    try:
        loaded = QuotaIn().load({"per_hour": 100, "burst": 10, "until": until})
    except ValidationError as error:
        assert "until" in error.messages
        return
    assert loaded["until"].tzinfo is UTC


@given(st.lists(st.tuples(st.sampled_from(PREFIXES[1:]), edge_texts()), min_size=1, max_size=2))
def test_audit_event_dates_answer_or_refuse(bounds):
    answered_or_invalid(lambda: parse_dates([p + t for p, t in bounds]))


@given(edge_texts())
def test_investigators_instants_answer_or_refuse_and_are_utc(text):
    try:
        value = parse_instant(text, "as_of")
    except Invalid:
        return
    assert value.tzinfo is UTC and value == value.astimezone(UTC)


CONNECTOR = "99999999-0000-4000-8000-000000000000"


@given(edge_texts(), edge_texts())
def test_body_instants_load_in_utc_or_are_a_validation_error(start, end):
    slots = {"service_type": "c", "start": start, "end": end, "duration_minutes": 20}
    incident = {"title": "t", "connector_id": CONNECTOR, "from": start, "to": end}
    for schema, body in ((OpenSlotInterval, slots), (IncidentIn, {**incident, "aware_at": end})):
        try:
            loaded = schema().load(body)
        except ValidationError:
            continue
        instants = [v for v in loaded.values() if isinstance(v, datetime)]
        assert instants and all(v.tzinfo is UTC for v in instants)


def test_all_time_searches_and_the_last_day_work():
    q = parse_appointment_search([("date", "ge0001-01-01"), ("date", "lt9999-12-31")])
    assert (q.date_from, q.date_to) == (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
    )
    assert parse_slot_search([("start", "le9999-12-31")]).start_to is None  # open: nothing after
    assert parse_dates(["le9999-12-31T23:59:59.999999Z"]) == (None, None)
    with pytest.raises(Invalid, match="after"):
        parse_appointment_search([("date", "gt9999-12-31T23:59:59.999999Z")])
    with pytest.raises(Invalid, match="years 1 to 9999"):
        parse_slot_search([("start", "ge9999-12-31T23:00:00-05:00")])
