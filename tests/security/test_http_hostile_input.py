"""Hostile HTTP input, aimed by hand: every refusal a clean 4xx in the service's error format.

Oversized bodies (413), wrong media types (415), broken JSON (400), huge page sizes (capped or
400), and injection strings in every path, query and header parameter of every documented
operation; never a 5xx, never a traceback, a psycopg message or a code path in a body.
Bodies of /fhir refusals are OperationOutcome; every other refusal is {"error", ...} JSON.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
import requests

from tests.security.hostile_requests import (
    BROKEN_JSON,
    CALLER,
    EDGE_BOUNDS,
    EXTREME_INSTANTS,
    INJECTIONS,
    NUL_BODIES,
    PAGE_SIZES,
    PAGED,
    UNROUTED,
    Operation,
    describe,
    operations,
    refusal_problems,
    send,
    url_for,
)
from tests.security.http_stack import HttpStack

pytestmark = pytest.mark.slow

OPERATIONS = list(operations())
WITH_INPUT = [op for op in OPERATIONS if not op.public and op.parameters]
WITH_BODY = [op for op in OPERATIONS if op.body_media]
WRITES = [op for op in OPERATIONS if op.method in ("POST", "PATCH", "DELETE")]
TEN_MB = 10 * 1024 * 1024


def _ids(ops: list[Operation]) -> list[str]:
    return [str(op) for op in ops]


def _check_all(stack: HttpStack, op: Operation, attempts: dict[str, dict]) -> list[str]:
    """Send each attempt (name -> send() keywords plus `url`); the list of what went wrong."""
    failures = []
    for what, kwargs in attempts.items():
        r = send(stack, op, **kwargs)
        problems = refusal_problems(op, r)
        if problems:
            failures.append(describe(op, what, r, problems))
    return failures


@pytest.mark.parametrize("op", WITH_INPUT, ids=_ids(WITH_INPUT))
def test_injection_strings_in_every_parameter_get_a_clean_answer(
    op: Operation, security_http_stack: HttpStack
) -> None:
    stack, attempts = security_http_stack, {}
    for where, name in op.parameters:
        for label, value in INJECTIONS.items():
            key = f"{where}:{name}={label}"
            if where == "path":
                attempts[key] = {"url": url_for(stack, op, {name: value})}
            elif where == "query":
                attempts[key] = {"url": f"{url_for(stack, op)}?{urlencode({name: value})}"}
            elif value.isascii() and value.isprintable():  # a header: what HTTP can carry
                attempts[key] = {"url": url_for(stack, op), "headers": {name: value}}
    assert _check_all(stack, op, attempts) == []


@pytest.mark.parametrize("op", WRITES, ids=_ids(WRITES))
def test_a_ten_megabyte_body_is_refused_with_413(
    op: Operation, security_http_stack: HttpStack
) -> None:
    media = op.body_media or "application/json"
    big = b'{"a": "' + b"x" * TEN_MB + b'"}'
    r = send(
        security_http_stack,
        op,
        url_for(security_http_stack, op),
        data=big,
        headers={"Content-Type": media},
    )
    assert refusal_problems(op, r) == []
    assert r.status_code == 413, r.text[:200]


@pytest.mark.parametrize("op", WITH_BODY, ids=_ids(WITH_BODY))
def test_a_body_of_another_media_type_is_refused(
    op: Operation, security_http_stack: HttpStack
) -> None:
    stack = security_http_stack
    form = op.body_media == "application/x-www-form-urlencoded"
    failures = []
    for media in ("text/plain", "application/xml", "multipart/form-data; boundary=x", None):
        body = b"grant_type=password" if form else b"{}"
        headers = {"Content-Type": media} if media else {}
        r = send(stack, op, url_for(stack, op), data=body, headers=headers)
        problems = refusal_problems(op, r)
        # RFC 6749 §5.2: the token endpoint refuses a request it cannot read as invalid_request.
        expected = (400,) if form else (415,)
        if r.status_code not in expected:
            problems.append(f"expected {expected}")
        if problems:
            failures.append(describe(op, f"Content-Type {media}", r, problems))
    assert failures == []


@pytest.mark.parametrize("op", WITH_BODY, ids=_ids(WITH_BODY))
def test_broken_json_is_refused_with_400(op: Operation, security_http_stack: HttpStack) -> None:
    if op.body_media == "application/x-www-form-urlencoded":
        pytest.skip("a form, not JSON: see test_a_body_of_another_media_type_is_refused")
    stack, failures = security_http_stack, []
    for label, body in BROKEN_JSON.items():
        if label == "empty" and not op.body_required:
            continue  # documented as optional: no body is a valid request
        r = send(stack, op, url_for(stack, op), data=body, headers={"Content-Type": op.body_media})
        problems = refusal_problems(op, r)
        if r.status_code != 400:
            problems.append("expected 400")
        if problems:
            failures.append(describe(op, label, r, problems))
    assert failures == []


@pytest.mark.parametrize(("service", "path", "param", "cap"), PAGED)
def test_a_huge_page_size_is_capped_or_refused(
    service: str, path: str, param: str, cap: int, security_http_stack: HttpStack
) -> None:
    stack = security_http_stack
    op = Operation(service, "GET", path, (), None)
    selector = {
        "/fhir/AuditEvent": {"agent": stack.ids["connector_id"]},
        "/v1/audit/accesses": {"connector": stack.ids["connector_id"]},
    }.get(path, {})
    failures = []
    for label, value in PAGE_SIZES.items():
        r = send(stack, op, f"{stack.url(service, path)}?{urlencode({**selector, param: value})}")
        problems = refusal_problems(op, r)
        if r.status_code == 200:
            body = r.json()
            served = len(body.get("entry", body.get("accesses", [])))
            if served > cap:
                problems.append(f"served {served} > {cap}")
            if label in ("zero", "negative", "float", "superscript"):
                problems.append("accepted an invalid page size")
        elif r.status_code != 400:
            problems.append("expected 200 (capped) or 400")
        if problems:
            failures.append(describe(op, f"{param}={label}", r, problems))
    assert failures == []


def test_a_cursor_this_server_never_gave_is_refused_or_empty_not_a_crash(
    security_http_stack: HttpStack,
) -> None:
    stack = security_http_stack
    op = Operation("audit", "GET", "/fhir/AuditEvent", (), None)
    agent = stack.ids["connector_id"]
    for cursor, expected in (("9" * 30, 400), ("١٢", 400), ("²", 400), ("9" * 18, 200)):
        url = f"{stack.url('audit', '/fhir/AuditEvent')}?agent={agent}&_cursor={quote(cursor)}"
        r = send(stack, op, url)
        assert refusal_problems(op, r) == [] and r.status_code == expected, (cursor, r.text)


@pytest.mark.parametrize("instant", EXTREME_INSTANTS)
def test_instants_at_the_ends_of_the_calendar_get_a_clean_answer(
    instant: str, security_http_stack: HttpStack
) -> None:
    stack = security_http_stack
    appointment, connector = stack.ids["appointment_id"], stack.ids["connector_id"]
    gets = {
        ("audit", f"/v1/audit/appointments/{appointment}/state"): {"as_of": instant},
        ("audit", "/v1/audit/accesses"): {"connector": connector, "from": instant},
        ("audit", "/fhir/AuditEvent"): {"agent": connector, "date": f"ge{instant}"},
        ("booking", "/fhir/Appointment"): {"date": f"ge{instant}"},
        ("booking", "/fhir/Slot"): {"start": f"lt{instant}"},
    }
    failures = []
    for (service, path), params in gets.items():
        op = Operation(service, "GET", path, (), None)
        r = send(stack, op, f"{stack.url(service, path)}?{urlencode(params)}")
        if problems := refusal_problems(op, r):
            failures.append(describe(op, instant, r, problems))
    assert failures == []


@pytest.mark.parametrize("bound", EDGE_BOUNDS)
def test_the_calendars_last_day_under_every_prefix_is_answered_never_a_500(
    bound: str, security_http_stack: HttpStack
) -> None:
    stack = security_http_stack
    instant_only = bound[2:] if "T" in bound else f"{bound[2:]}T00:00:00Z"
    gets = {
        ("booking", "/fhir/Appointment"): {"date": bound},
        ("booking", "/fhir/Slot"): {"start": bound},
        ("audit", "/fhir/AuditEvent"): {
            "agent": stack.ids["connector_id"],
            "date": bound if bound[:2] != "eq" else f"ge{instant_only}",
        },
    }
    failures = []
    for (service, path), params in gets.items():
        op = Operation(service, "GET", path, (), None)
        r = send(stack, op, f"{stack.url(service, path)}?{urlencode(params)}")
        if problems := refusal_problems(op, r):
            failures.append(describe(op, bound, r, problems))
        elif r.status_code not in (200, 400):
            failures.append(describe(op, bound, r, [f"status {r.status_code}"]))
    assert failures == []


def test_an_all_time_search_is_answered(security_http_stack: HttpStack) -> None:
    stack = security_http_stack
    for path, name in (("/fhir/Appointment", "date"), ("/fhir/Slot", "start")):
        op = Operation("booking", "GET", path, (), None)
        query = urlencode([(name, "ge0001-01-01"), (name, "lt9999-12-31")])
        r = send(stack, op, f"{stack.url('booking', path)}?{query}")
        assert r.status_code == 200 and r.json()["resourceType"] == "Bundle", r.text


def test_opening_slots_over_centuries_is_refused_quickly(security_http_stack: HttpStack) -> None:
    stack = security_http_stack
    path = f"/v1/practitioners/{stack.ids['practitioner_id']}/slots"
    op = Operation("booking", "POST", path, (), "application/json")
    body = {
        "service_type": "consultation",
        "start": "2100-01-01T00:00:00Z",
        "end": "9999-12-31T23:59:59Z",
        "duration_minutes": 5,
    }
    r = send(
        stack,
        op,
        stack.url("booking", path),
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert refusal_problems(op, r) == []
    assert r.status_code == 422 and r.elapsed.total_seconds() < 5, r.text[:200]


@pytest.mark.parametrize(
    ("service", "method", "path", "media", "body"),
    NUL_BODIES,
    ids=[f"{s}:{p}" for s, _, p, _, _ in NUL_BODIES],
)
def test_a_nul_character_in_a_body_field_is_refused_with_400(
    service: str,
    method: str,
    path: str,
    media: str,
    body: dict,
    security_http_stack: HttpStack,
) -> None:
    stack = security_http_stack
    op = Operation(service, method, path, (("path", "practitioner_id"),), media)
    form = media.endswith("urlencoded")
    data = urlencode(body).encode() if form else json.dumps(body).encode()
    r = send(stack, op, url_for(stack, op), data=data, headers={"Content-Type": media})
    assert refusal_problems(op, r) == [] and r.status_code == 400, r.text[:200]


@pytest.mark.parametrize(("service", "method", "path"), UNROUTED)
def test_an_unknown_route_or_method_is_a_clean_404_or_405(
    service: str, method: str, path: str, security_http_stack: HttpStack
) -> None:
    op = Operation(service, method, path, (), None)
    url = security_http_stack.url(service, path)
    r = requests.request(method, url, timeout=30)  # no token: routing comes first
    assert refusal_problems(op, r) == [] and r.status_code in (404, 405), r.text[:200]


def test_every_caller_used_here_is_a_real_principal(security_http_stack: HttpStack) -> None:
    """The attacks above must reach the parsers: each caller's token is accepted."""
    stack = security_http_stack
    probes = {
        "identity": f"/v1/practitioners/{stack.ids['practitioner_id']}",
        "booking": f"/fhir/Appointment/{stack.ids['appointment_id']}",
        "audit": f"/v1/audit/appointments/{stack.ids['appointment_id']}/history",
    }
    for service, path in probes.items():
        token = stack.tokens[CALLER[service]]
        r = requests.get(
            stack.url(service, path), headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert r.status_code in (200, 404), (service, r.status_code, r.text[:200])


def test_no_hostile_request_failed_unexpectedly_in_any_service_log(
    security_http_stack: HttpStack,
) -> None:
    """Last in the file: a 4xx that hid an exception would still show in the logs."""
    assert security_http_stack.failures_logged() == []
