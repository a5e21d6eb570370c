"""Every attempt is evidence: which refusals leave a record, with which code and targets."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from contracts.booking_access import DENIAL_CODES, denial_code_of
from services.booking.commands import Denied
from services.booking.evidence import denial_of
from services.booking.site import request_info
from services.common.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from services.common.http.request import Request
from services.common.json_input import storable_text as _text
from services.common.principals import token_fingerprint

BOOKING = Path(__file__).resolve().parents[3] / "services" / "booking"


def test_refused_tokens_unknown_ids_quotas_and_refusals_are_evidence():
    assert denial_of(Unauthorized("token refused: expired")).code == "unauthenticated"
    assert denial_of(NotFound("no such appointment")).code == "not_found"
    assert denial_of(TooManyRequests("read quota exhausted", 3)).code == "quota"
    assert denial_of(Forbidden("not here")).code == "forbidden"
    target = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    denied = denial_of(Denied("outside your reach", target[2], targets=(target,)))
    assert (denied.code, denied.targets) == ("reach", (target,))
    assert {denial_of(e).code for e in (Denied("x", code="forbidden"),)} <= set(DENIAL_CODES)


@pytest.mark.parametrize(
    "error",
    [Invalid("bad date"), Conflict("slot taken"), Unavailable("identity is unavailable")],
)
def test_bad_input_conflicts_and_an_unavailable_identity_are_not(error):
    assert denial_of(error) is None


def _denied_calls() -> list[tuple[str, str]]:
    """(text, code) of every Denied("...") raised in booking's code."""
    calls = []
    for path in BOOKING.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Denied"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                code = next((k.value.value for k in node.keywords if k.arg == "code"), "reach")
                calls.append((node.args[0].value, code))
    return calls


def test_each_refusal_code_is_how_the_contract_classes_its_sentence():
    """A V2 record upcast from its sentence and a V3 record of the same refusal agree."""
    calls = _denied_calls()
    assert len(calls) >= 8
    assert [(t, c) for t, c in calls if denial_code_of(t) != c] == []


def test_request_text_is_made_storable_not_refused():
    assert _text("GET /fhir/Appointment/\x00", 2000) == "GET /fhir/Appointment/\ufffd"
    assert _text("lone \ud800 surrogate", 2000) == "lone ? surrogate"
    assert _text("x" * 3000, 2000) == "x" * 2000
    assert _text("Agenda é", 10) == "Agenda é"


def _request(headers: dict[str, str]) -> Request:
    return Request("GET", "/fhir/Appointment", "date=ge2030-01-01", headers, b"", "192.0.2.7",
                   "req-1", "http://booking")  # fmt: skip


def test_the_record_carries_the_token_fingerprint_never_the_token():
    info = request_info(_request({"Authorization": "Bearer made-up-token"}))
    assert info.token_fingerprint == token_fingerprint("made-up-token")
    assert "made-up-token" not in repr(info)
    assert request_info(_request({})).token_fingerprint is None


def test_a_refusals_record_leaves_out_a_purpose_it_would_refuse():
    bad = _request({"X-Purpose-Of-Use": "curiosity"})
    with pytest.raises(Invalid):
        request_info(bad)
    assert request_info(bad, strict=False).purpose is None
