"""An event under its size bound that Python's json cannot convert, or no store can take, is
poison (#18): before the strict reader, a 5 KB integer or deep nesting raised ValueError or
RecursionError out of decode and killed the consuming container."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.consumed import PoisonMessage, decode
from tests.contract.examples import EXAMPLES
from tests.support.events import delivered


def reason(body: bytes) -> tuple[str, str]:
    with pytest.raises(PoisonMessage) as caught:
        decode(*delivered("PatientRegistered", body))
    return caught.value.reason, caught.value.detail


def with_field(raw_value: str) -> bytes:
    """A valid PatientRegistered body with one more field written as raw JSON text."""
    return (
        json.dumps(EXAMPLES["PatientRegistered"])[:-1].encode()
        + b', "n": '
        + raw_value.encode()
        + b"}"
    )


def test_an_integer_python_cannot_convert_is_malformed_not_a_crash():
    assert reason(with_field("9" * 5000)) == (
        "malformed-json",
        "an integer has more than 4300 digits",
    )


def test_nesting_past_the_recursion_limit_is_malformed_not_a_crash():
    body = with_field("[" * 5000 + "]" * 5000)
    assert reason(body)[0] == "malformed-json"


@pytest.mark.parametrize("raw", ["NaN", "-Infinity", "1e999", '"\\u0000"', '"\\ud800"'])
def test_json_no_store_takes_is_malformed(raw):
    assert reason(with_field(raw))[0] == "malformed-json"


@given(digits=st.integers(min_value=4301, max_value=6000))
def test_any_integer_python_cannot_convert_is_refused_by_its_length(digits):
    assert reason(with_field("1" * digits)) == (
        "malformed-json",
        "an integer has more than 4300 digits",
    )


def test_a_large_number_as_postgresql_writes_it_is_read():
    """jsonb prints 1e32 as 33 digits: a float field of a detection may hold that much."""
    body, *rest = delivered("PatientRegistered")
    assert decode(body, *rest)  # the example itself
    assert reason(with_field("1" + "0" * 32))[0] == "undeclared-fields"  # read, then judged


def test_the_detail_never_holds_the_value():
    _, detail = reason(with_field('"\\u0000secret"'))
    assert "secret" not in detail


def test_a_body_kombu_already_decoded_to_text_is_read_the_same():
    body, *rest = delivered("PatientRegistered")
    assert decode(body.decode(), *rest).payload == decode(body, *rest).payload
