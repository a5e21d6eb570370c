"""What the hostile-input tests send, and what every refusal must look like.

Operations come from each service's own OpenAPI document, so a new route or parameter is
attacked without anyone listing it here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from services.audit.routes import API as AUDIT
from services.booking.routes import API as BOOKING
from services.common.http import openapi
from services.identity.routes import API as IDENTITY
from services.notification.routes import API as NOTIFICATION
from tests.security.http_stack import LEAK, HttpStack

DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    service: (lambda api=api: openapi.document(api))
    for service, api in (
        ("identity", IDENTITY),
        ("booking", BOOKING),
        ("audit", AUDIT),
        ("notification", NOTIFICATION),
    )
}
# Who each service's requests are sent as: far enough in to reach the parsers.
CALLER = {"identity": "admin", "booking": "admin", "audit": "investigator", "notification": None}
PUBLIC = ("/health/", "/metrics", "/openapi.json")
# Decoded values; each is percent-encoded on the wire, so "\x00" travels as %00.
INJECTIONS = {
    "sql": "' OR 1=1--",
    "sql-union": "1 UNION SELECT password FROM identity.credentials--",
    "nul": "\x00",
    "nul-inside": "a\x00b",
    "percent-00-literal": "%00",
    "long": "A" * 3000,
    "unicode": "é漢字🙂\u202e\u200b",
    "traversal": "../../../../etc/passwd",
    "traversal-encoded": "..%2F..%2Fetc%2Fpasswd",
    "script": "<script>alert(1)</script>",
    "template": "${jndi:ldap://x/a}{{7*7}}",
    "number-overflow": "9" * 40,
    "negative": "-1",
    "json": '{"$gt": ""}',
    "newline": "x\r\nSet-Cookie: a=b",
}


# Bodies no JSON reader may accept (or PostgreSQL store).
BROKEN_JSON = {
    "truncated": b'{"a": ',
    "unclosed-array": b"[1, 2",
    "not-utf8": b'{"a": "\xff\xfe"}',
    "nan": b'{"a": NaN}',
    "infinity": b"[Infinity]",
    "deep-nesting": b"[" * 8000 + b"]" * 8000,  # under every body limit (audit's is 16 KB)
    "empty": b"",
    "bare-string": b'"hello"',
    "nul-escape": b'{"title": "a\\u0000b"}',
    "lone-surrogate": b'{"title": "\\ud800"}',
    # Python refuses to convert more than 4,300 digits: a ValueError, a 500 before #18.
    "huge-integer": b'{"title": ' + b"9" * 5000 + b"}",
    "float-overflow": b'{"title": 1e999}',
}


# Page sizes: capped when huge, refused when not a positive integer.
PAGE_SIZES = {
    "billion": str(10**9),
    "beyond-int64": str(10**30),
    "zero": "0",
    "negative": "-5",
    "float": "1e3",
    "empty": "",
    "unicode-digit": "٣",
    "superscript": "²",
}


PAGED = [
    ("booking", "/fhir/Appointment", "_count", 100),
    ("booking", "/fhir/Slot", "_count", 100),
    ("audit", "/fhir/AuditEvent", "_count", 1000),
    ("audit", "/v1/audit/accesses", "limit", 10_000),
]


EXTREME_INSTANTS = (
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
)
# The calendar's last day and instant under every FHIR prefix (issue #18: each was a 500).
EDGE_BOUNDS = tuple(
    f"{prefix}{when}"
    for prefix in ("eq", "ge", "gt", "le", "lt")
    for when in ("9999-12-31", "9999-12-31T23:59:59.999999Z")
)


# A NUL in one text field of a body each service stores.
NUL_BODIES = [
    (
        "identity",
        "POST",
        "/v1/staff",
        "application/json",
        {"role": "admin", "display_name": "a\x00b"},
    ),
    (
        "identity",
        "POST",
        "/oauth/token",
        "application/x-www-form-urlencoded",
        {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x" * 20},
    ),
    (
        "identity",
        "POST",
        "/oauth/token",
        "application/x-www-form-urlencoded",
        {"grant_type": "password", "username": "a\x00b", "password": "x" * 20},
    ),
    (
        "booking",
        "POST",
        "/v1/practitioners/{practitioner_id}/slots",
        "application/json",
        {
            "service_type": "a\x00b",
            "start": "2100-01-01T00:00:00Z",
            "end": "2100-01-01T01:00:00Z",
            "duration_minutes": 20,
        },
    ),
    (
        "audit",
        "POST",
        "/v1/audit/incidents",
        "application/json",
        {
            "title": "a\x00b",
            "connector_id": str(uuid.uuid4()),
            "from": "2030-01-01T00:00:00Z",
            "to": "2030-01-02T00:00:00Z",
            "aware_at": "2030-01-02T00:00:00Z",
        },
    ),
]


# Paths and methods no route answers (traversals included).
UNROUTED = [
    ("identity", "GET", "/nowhere"),
    ("identity", "PUT", "/v1/practitioners"),
    ("booking", "GET", "/fhir/Patient"),
    ("booking", "PUT", "/fhir/Appointment"),
    ("booking", "GET", "/fhir/Appointment/a/b/../../../etc/passwd"),
    ("audit", "GET", "/v1/audit/../../etc/passwd"),
    ("audit", "DELETE", "/v1/audit/verify"),
    ("notification", "POST", "/health/live"),
]


@dataclass(frozen=True)
class Operation:
    """One documented operation: where it is, what it takes."""

    service: str
    method: str
    path: str
    parameters: tuple[tuple[str, str], ...]  # (where, name)
    body_media: str | None
    body_required: bool = True

    @property
    def public(self) -> bool:
        """Health, metrics and the document take no token and no input."""
        return self.path.startswith(PUBLIC)

    def __str__(self) -> str:
        return f"{self.service}:{self.method} {self.path}"


def operations() -> Iterator[Operation]:
    """Every operation of every service's document."""
    for service, document in DOCUMENTS.items():
        for path, methods in document()["paths"].items():
            for method, op in methods.items():
                params = tuple((p["in"], p["name"]) for p in op.get("parameters", []))
                body = op.get("requestBody", {})
                media = next(iter(body.get("content", {})), None)
                required = body.get("required", False)
                yield Operation(service, method.upper(), path, params, media, required)


def fhir_answer(op: Operation) -> bool:
    """Booking's and audit's /fhir paths refuse with an OperationOutcome."""
    return op.path.startswith("/fhir")


def default_path_values(stack: HttpStack) -> dict[str, str]:
    """Real ids where the stack has them, so an attack reaches past the 404."""
    return dict(stack.ids)


def url_for(
    stack: HttpStack, op: Operation, overrides: dict[str, str] | None = None, quote_path=True
) -> str:
    """The operation's URL with its path parameters filled (overrides percent-encoded)."""
    values = {**default_path_values(stack), **(overrides or {})}
    path = op.path
    for where, name in op.parameters:
        if where == "path":
            value = values.get(name, str(uuid.uuid4()))
            path = path.replace(f"{{{name}}}", quote(value, safe="") if quote_path else value)
    return stack.url(op.service, path)


def send(
    stack: HttpStack,
    op: Operation,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    caller: str | bool | None = True,
) -> requests.Response:
    """One request as the service's usual caller (caller=None: anonymous)."""
    who = CALLER[op.service] if caller is True else caller
    sent = dict(headers or {})
    if who:
        sent["Authorization"] = f"Bearer {stack.tokens[who]}"
    return requests.request(op.method, url, headers=sent, data=data, timeout=60)


def refusal_problems(op: Operation, r: requests.Response) -> list[str]:
    """What is wrong with this answer: a 5xx, a leak, or a 4xx body of the wrong shape."""
    problems = []
    if r.status_code >= 500:
        problems.append(f"server error {r.status_code}")
    if LEAK.search(r.text):
        problems.append("internals in the body")
    if r.status_code < 400 or r.status_code >= 500:
        return problems
    try:
        body = r.json()
    except ValueError:
        return [*problems, f"{r.status_code} body is not JSON: {r.text[:120]!r}"]
    if fhir_answer(op):
        ok = isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"
        ok = ok and bool(body.get("issue"))
        expected = "an OperationOutcome"
    else:
        ok = isinstance(body, dict) and isinstance(body.get("error"), str)
        expected = 'a JSON {"error", ...} body'
    if not ok:
        problems.append(f"{r.status_code} body is not {expected}: {json.dumps(body)[:120]}")
    return problems


def describe(op: Operation, what: str, r: requests.Response, problems: list[str]) -> str:
    """One line per failure, enough to reproduce it."""
    return f"{op} [{what}] -> {r.status_code}: {'; '.join(problems)}"
