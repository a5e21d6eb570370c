"""Delta sync: `_lastUpdated` bounds the last change like `date` bounds the start; every
Appointment and every searchset Bundle says when (FHIR instants, valid R4B)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle

from services.booking.classes import ADMINISTRATIVE, SENSITIVE
from services.booking.fhir import appointment_resource, searchset
from services.booking.fhir_input import FhirInputError, parse_appointment_search
from services.booking.model import AppointmentRow
from services.common.errors import Invalid

T = datetime(2030, 3, 4, 10, tzinfo=UTC)
TICK = timedelta(microseconds=1)
DAY, NEXT = datetime(2030, 3, 4, tzinfo=UTC), datetime(2030, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "lower", "upper"),
    [
        (["gt2030-03-04T10:00:00Z"], T + TICK, None),
        (["ge2030-03-04T11:00:00+01:00"], T, None),
        (["lt2030-03-04T10:00:00Z"], None, T),
        (["le2030-03-04T10:00:00Z"], None, T + TICK),
        (["gt2030-03-04"], NEXT, None),
        (["2030-03-04"], DAY, NEXT),
        (["gt2030-03-04T10:00:00Z", "lt2030-03-05"], T + TICK, NEXT),
        (["ge0001-01-01"], datetime(1, 1, 1, tzinfo=UTC), None),
        (["le9999-12-31"], None, None),  # past the calendar's end: an open bound
    ],
)
def test_last_updated_bounds_the_last_change(values, lower, upper):
    q = parse_appointment_search([("_lastUpdated", v) for v in values])
    assert (q.updated_from, q.updated_to) == (lower, upper)
    assert (q.date_from, q.date_to) == (None, None)


def test_it_combines_with_the_other_filters():
    doctor = uuid4()
    q = parse_appointment_search(
        [("practitioner", str(doctor)), ("date", "ge2030-01-01"), ("_lastUpdated", "gt2030-03-04")]
    )
    assert (q.practitioner_ids, q.date_from, q.updated_from) == (
        (doctor,),
        datetime(2030, 1, 1, tzinfo=UTC),
        NEXT,
    )


@pytest.mark.parametrize(
    ("values", "code", "says"),
    [
        (["gt9999-12-31T23:59:59.999999Z"], "value", "last instant"),
        (["gt2030-03-04T10:00:00"], "value", "ambiguous"),
        (["gt2030-13-01"], "value", "not a valid date"),
        (["gtyesterday"], "value", "YYYY-MM-DD"),
        (["sa2030-03-04"], "not-supported", "prefix"),
        (["gt2030-03-04", "ge2030-03-05"], "value", "twice"),
        (["gt2030-03-05", "lt2030-03-05"], "value", "empty"),
        ([""], "value", "empty"),
    ],
)
def test_bad_last_updated_is_a_400_naming_it(values, code, says):
    with pytest.raises(FhirInputError) as caught:
        parse_appointment_search([("_lastUpdated", v) for v in values])
    assert caught.value.code == code and says in caught.value.diagnostics
    assert "_lastUpdated" in caught.value.diagnostics or says == "prefix" or says == "empty"


def test_a_year_past_the_calendar_in_utc_is_refused_not_a_500():
    with pytest.raises(Invalid, match="_lastUpdated"):  # services/common/instants.py
        parse_appointment_search([("_lastUpdated", "ge0001-01-01T00:00:00+14:00")])


def _row(updated: datetime) -> AppointmentRow:
    start = datetime(2030, 3, 5, 9, tzinfo=UTC)
    return AppointmentRow(uuid4(), 3, uuid4(), uuid4(), uuid4(), start,
                          start + timedelta(minutes=20), "booked", "consultation", None, None,
                          uuid4(), None, updated)  # fmt: skip


@pytest.mark.parametrize(
    "updated",
    [
        datetime(2030, 3, 4, 10, 0, 0, tzinfo=UTC),
        datetime(2030, 3, 4, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2030, 3, 4, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_every_appointment_and_page_carry_a_valid_instant(updated):
    resource = appointment_resource(
        _row(updated), None, None, frozenset({ADMINISTRATIVE, SENSITIVE}), None
    )
    served = Appointment.model_validate(resource)
    assert served.meta.lastUpdated == updated
    page = searchset("http://b/fhir", [resource], "http://b/fhir/Appointment", None,
                     searched_at=updated)  # fmt: skip
    assert Bundle.model_validate(page).meta.lastUpdated == updated


def test_a_page_without_a_search_time_has_no_meta():
    assert "meta" not in searchset("http://b/fhir", [], "http://b/fhir/Appointment", None)
