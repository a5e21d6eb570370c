"""Every refusal in one of three formats, chosen by the route: FHIR, plain JSON or OAuth2.

A refusal is a kind (services/common/errors.py) and a sentence; here, and only here, a kind
becomes an HTTP status, a FHIR issue type (`OperationOutcome`), a JSON `{"error", "detail"}`
or an OAuth2 `{"error", "error_description"}` (RFC 6749 §5.2), with the headers it implies.
"""

from __future__ import annotations

from typing import Any, Literal

from services.common.errors import DomainError
from services.common.http.request import FHIR_JSON, JSON, Response

Style = Literal["fhir", "json", "oauth"]

STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "conflict": 409,
    "too_large": 413,
    "unsupported": 415,
    "unprocessable": 422,
    "too_many_requests": 429,
    "internal_error": 500,
    "unavailable": 503,
}
KIND_OF_STATUS = {status: kind for kind, status in STATUS.items()}
# FHIR R4 IssueType (http://hl7.org/fhir/R4/valueset-issue-type.html).
ISSUE_CODES = frozenset(
    {
        "invalid", "structure", "required", "value", "invariant", "security", "login",
        "unknown", "expired", "forbidden", "suppressed", "processing", "not-supported",
        "duplicate", "multiple-matches", "not-found", "deleted", "too-long", "code-invalid",
        "extension", "too-costly", "business-rule", "conflict", "transient", "lock-error",
        "no-store", "exception", "timeout", "incomplete", "throttled", "informational",
    }
)  # fmt: skip
ISSUE_SEVERITIES = ("fatal", "error", "warning", "information")
FHIR_ISSUE = {
    "invalid": "invalid",
    "unauthorized": "login",
    "forbidden": "forbidden",
    "not_found": "not-found",
    "method_not_allowed": "not-supported",
    "not_acceptable": "not-supported",
    "conflict": "conflict",
    "too_large": "too-costly",
    "unsupported": "not-supported",
    "unprocessable": "business-rule",
    "too_many_requests": "throttled",
    "internal_error": "exception",
    "unavailable": "transient",
}
OAUTH_ERROR = {"unauthorized": "invalid_client"}  # every other kind is invalid_request


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """The FHIR error body; an unknown issue code is a programming error, not a client's."""
    if code not in ISSUE_CODES:
        raise ValueError(f"not a FHIR R4 issue type: {code!r}")
    if severity not in ISSUE_SEVERITIES:
        raise ValueError(f"not a FHIR issue severity: {severity!r}")
    issue: dict[str, str] = {"severity": severity, "code": code}
    if diagnostics.strip():
        issue["diagnostics"] = diagnostics
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def style_of(path: str) -> Style:
    """The format of an answer nothing routed: FHIR under /fhir, plain JSON elsewhere."""
    return "fhir" if path.startswith("/fhir") else "json"


def refusal(
    style: Style,
    kind: str,
    detail: Any,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    fields: dict[str, Any] | None = None,
) -> Response:
    """The response for a refusal of this kind, in the route's format.

    `code` is a finer word than the kind: a FHIR issue type (shown when the format is FHIR
    and the code is one), or a JSON/OAuth error code (shown as `error` in those formats).
    """
    status = STATUS[kind]
    extra: dict[str, str] = {}
    if status == 401:
        extra["WWW-Authenticate"] = "Basic" if style == "oauth" else 'Bearer realm="carnet"'
    if status == 503:
        extra["Retry-After"] = "1"
    extra.update(headers or {})
    if style == "fhir":
        issue = code if code in ISSUE_CODES else FHIR_ISSUE[kind]
        return Response(status, operation_outcome(issue, str(detail)), extra, FHIR_JSON)
    if style == "oauth":
        error = code or OAUTH_ERROR.get(kind, "invalid_request")
        body = {"error": error, "error_description": str(detail)}
        return Response(status, body, {**extra, "Cache-Control": "no-store"}, JSON)
    fhir_only = code in ISSUE_CODES and code not in STATUS
    body = {"error": kind if fhir_only else code or kind, "detail": str(detail)}
    return Response(status, {**body, "fields": fields} if fields else body, extra)


def from_error(style: Style, error: DomainError) -> Response:
    """A domain refusal in the route's format (a quota refusal says when to retry)."""
    fields = getattr(error, "fields", None)
    retry = getattr(error, "retry_after_s", None)
    headers = {"Retry-After": str(retry)} if retry else None
    return refusal(style, error.kind, error.detail, error.code, headers=headers, fields=fields)
