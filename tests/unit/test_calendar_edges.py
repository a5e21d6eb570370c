"""Every date parameter of every service, at the calendar's edges and any offset: an answer or
a 400 (Invalid), never the OverflowError that used to be a 500 (issue #18)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from services.audit.fhir_export import parse_dates
from services.audit.schemas import IncidentIn
from services.booking.fhir_search import parse_appointment_search, parse_slot_search
from services.booking.schemas import OpenSlotInterval
from services.common.errors import Invalid
from services.common.http.body import parse_instant

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
