"""Strict request bodies and the edge's routing refusals, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from services.booking.domain import slots
from services.common.errors import Unprocessable
from services.common.json_input import MAX_DEPTH, MAX_DIGITS, BadJson, parse_json
from services.common.nameko_ext.routing_errors import routing_error


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN}',
        b"[Infinity]",
        b"[-Infinity]",
        b'{"a": "x\\u0000y"}',
        b'{"x\\u0000": 1}',
        b'["\\ud800"]',
        b'{"a": "\xff"}',
        b"[" * 5000 + b"]" * 5000,
        b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2),
        b'{"a": ',
        b"",
    ],
)
def test_what_postgresql_or_json_refuse_is_bad_json(raw: bytes) -> None:
    with pytest.raises(BadJson):
        parse_json(raw)


def test_ordinary_json_is_read_as_json() -> None:
    body = {"title": "Été 🙂", "n": [1, 2.5, None, True], "deep": [[[[{"a": "b"}]]]]}
    assert parse_json(json.dumps(body).encode()) == body


def test_an_unrouted_fhir_path_is_an_operation_outcome_and_keeps_allow() -> None:
    response = routing_error(MethodNotAllowed(valid_methods=["GET"]), "/fhir/Slot")
    body = json.loads(response.get_data())
    assert response.status_code == 405 and response.mimetype == "application/fhir+json"
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-supported"
    assert response.headers["Allow"] == "GET"


def test_an_unrouted_path_elsewhere_is_a_json_error() -> None:
    response = routing_error(NotFound(), "/v1/../etc/passwd")
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert json.loads(response.get_data()) == {"error": "not_found", "detail": "no such route"}


def test_a_redirect_passes_through() -> None:
    redirect = RequestRedirect("http://x/y/")
    assert routing_error(redirect, "/y") is redirect


def test_slicing_refuses_a_huge_interval_before_building_it() -> None:
    start = datetime(2100, 1, 1, tzinfo=UTC)
    with pytest.raises(Unprocessable):  # a 422 at the edge
        slots.slice_interval(start, datetime.max.replace(tzinfo=UTC), 5)
    cut = slots.slice_interval(start, start + timedelta(minutes=5 * 500 + 3), 5)
    assert len(cut) == 500 and cut[-1][1] == start + timedelta(minutes=2500)
    assert slots.slice_interval(start, start - timedelta(hours=1), 5) == []


@given(st.integers(min_value=MAX_DIGITS + 1, max_value=6000), st.booleans())
def test_an_integer_too_long_to_mean_anything_is_bad_json_not_a_500(digits: int, negative: bool):
    raw = ("-" if negative else "") + "7" * digits
    with pytest.raises(BadJson, match="digits"):
        parse_json(f'{{"n": {raw}}}'.encode())


@given(st.integers(min_value=-(10**MAX_DIGITS) + 1, max_value=10**MAX_DIGITS - 1))
def test_integers_up_to_the_limit_are_read_exactly(n: int):
    assert parse_json(f"[{n}]".encode()) == [n]


@given(st.integers(min_value=309, max_value=100_000))
def test_a_number_that_overflows_a_float_is_bad_json(exponent: int):
    with pytest.raises(BadJson, match="too large"):
        parse_json(f"[1e{exponent}]".encode())
