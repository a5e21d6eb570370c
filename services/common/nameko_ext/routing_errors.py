"""The edge's own refusals (no route, wrong method) in the services' error formats, not HTML.

werkzeug answers an unmatched path or method with an HTML page; a client of a JSON API, or a
path-traversal probe, gets the same body shapes a route would give (services/common/http/
errors.py): an OperationOutcome under /fhir, `{"error", "detail"}` elsewhere. Redirects (3xx)
pass through unchanged.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from services.common.http.errors import KIND_OF_STATUS, refusal, style_of

DETAIL = {404: "no such route", 405: "method not allowed on this route"}


def routing_error(exc: HTTPException, path: str) -> HTTPException | Response:
    """A JSON body for a 4xx werkzeug raised while routing; other exceptions as they are."""
    status = exc.code or 500
    if not 400 <= status < 500:
        return exc
    kind = KIND_OF_STATUS.get(status, "invalid")
    answer = refusal(style_of(path), kind, DETAIL.get(status, kind))
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return Response(answer.encoded(), status, headers, mimetype=answer.media_type)
