"""Schemathesis against each service's own OpenAPI document, with valid tokens and without.

Every operation of every document, positive and negative inputs (schemathesis' examples,
coverage and fuzzing phases), sent to the live services on the real PostgreSQL and RabbitMQ:
no 5xx, and every response is one its operation documents (status, media type, body schema).
The documents are built at collection (schemathesis' lazy loader does not run on pytest 9);
test_the_live_documents_are_the_ones_tested proves each service serves exactly that one.

A short, deterministic run (derandomize, few examples per operation) keeps `make test` quick;
CARNET_SCHEMATHESIS_EXAMPLES=200 makes a longer one.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.hostile_requests import DOCUMENTS
from tests.security.http_stack import LEAK, HttpStack

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("CARNET_SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _schema(service: str, *, coverage: bool = True) -> schemathesis.BaseSchema:
    """The service's document; `coverage` adds schemathesis' boundary and negative cases."""
    config = {
        "generation": {"deterministic": True, "max-examples": EXAMPLES},
        "phases": {
            # Unrouted methods are test_http_hostile_input's; here, the documented ones.
            "coverage": {"enabled": coverage, "unexpected-methods": []},
            "stateful": {"enabled": False},
        },
        "request-timeout": 30,
    }
    return schemathesis.openapi.from_dict(
        DOCUMENTS[service](), config=schemathesis.Config.from_dict(config)
    )


# With a token, every phase; without one, the answer is a 401 before any input is read, so
# fuzzing alone (the coverage phase's hundreds of body variants would all meet the same 401).
identity, booking, audit = (_schema(s) for s in ("identity", "booking", "audit"))
anonymous = {s: _schema(s, coverage=False) for s in DOCUMENTS}
# Booking's /fhir routes as a connector (its real callers); its /v1 routes as an admin too.
booking_v1 = booking.include(path_regex="^/v1/")


def _run(case: schemathesis.Case, stack: HttpStack, service: str, caller: str | None) -> None:
    """Send the case as `caller` (None: no token of ours), run the checks, look for leaks.

    A read of a resource the stack really has is sent a second time with its real ids, so the
    200 bodies are checked against the document too, not only the 404s of random UUIDs.
    """
    headers = {} if caller is None else {"Authorization": f"Bearer {stack.tokens[caller]}"}
    known = [name for name in case.path_parameters or {} if name in stack.ids]
    for attempt in ("generated", "real ids"):
        response = case.call_and_validate(
            base_url=stack.url(service), headers=headers, checks=CHECKS, timeout=30
        )
        assert not LEAK.search(response.text), response.text[:500]
        if attempt == "real ids" or case.method != "GET" or not known:
            return
        for name in known:
            case.path_parameters[name] = stack.ids[name]


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_the_live_documents_are_the_ones_tested(
    service: str, security_http_stack: HttpStack
) -> None:
    served = requests.get(security_http_stack.url(service, "/openapi.json"), timeout=30)
    assert served.status_code == 200
    assert served.json() == DOCUMENTS[service]()


@identity.parametrize()
@HYPOTHESIS
def test_identity_as_admin(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "identity", "admin")


@booking.parametrize()
@HYPOTHESIS
def test_booking_as_connector(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "booking", "connector")


@booking_v1.parametrize()
@HYPOTHESIS
def test_booking_as_admin(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "booking", "admin")


@audit.parametrize()
@HYPOTHESIS
def test_audit_as_investigator(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "audit", "investigator")


@anonymous["identity"].parametrize()
@HYPOTHESIS
def test_identity_without_a_token(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "identity", None)


@anonymous["booking"].parametrize()
@HYPOTHESIS
def test_booking_without_a_token(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "booking", None)


@anonymous["audit"].parametrize()
@HYPOTHESIS
def test_audit_without_a_token(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "audit", None)


@anonymous["notification"].parametrize()
@HYPOTHESIS
def test_notification(case: Any, security_http_stack: HttpStack) -> None:
    _run(case, security_http_stack, "notification", None)


def test_no_request_failed_unexpectedly_in_any_service_log(
    security_http_stack: HttpStack,
) -> None:
    assert security_http_stack.failures_logged() == []
