"""The edge's own refusals (no route, wrong method) in the services' error formats, not HTML.

werkzeug answers an unmatched path or method with an HTML page; a client of a JSON API, or a
path-traversal probe, gets the same body shapes a route would give: an OperationOutcome under
/fhir, `{"error", "detail"}` elsewhere. Redirects (3xx) pass through unchanged.
"""

from __future__ import annotations

import json

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

# HTTP status -> (JSON error code, FHIR issue type); anything else is a plain "invalid".
CODES = {404: ("not_found", "not-found"), 405: ("method_not_allowed", "not-supported")}


def routing_error(exc: HTTPException, path: str) -> HTTPException | Response:
    """A JSON body for a 4xx werkzeug raised while routing; other exceptions as they are."""
    status = exc.code or 500
    if not 400 <= status < 500:
        return exc
    code, issue = CODES.get(status, ("invalid", "invalid"))
    detail = {404: "no such route", 405: "method not allowed on this route"}.get(status, code)
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if path.startswith("/fhir"):
        body = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": issue, "diagnostics": detail}],
        }
        return Response(json.dumps(body), status, headers, mimetype="application/fhir+json")
    body = {"error": code, "detail": detail}
    return Response(json.dumps(body), status, headers, mimetype="application/json")
