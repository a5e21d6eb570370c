"""The HTTP edge without werkzeug: authenticate, parse, map every refusal to a 4xx or 503.

/fhir paths answer FHIR R4 JSON and refusals as OperationOutcome; /v1 paths answer JSON with
{"error", "detail"}. Nothing unexpected leaks: a bug is a bare 500 naming the request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from psycopg import OperationalError
from psycopg_pool import PoolTimeout

from contracts.booking import ACCESS_PURPOSES
from services.booking import fhir
from services.booking.access import RecordingFailed, RequestInfo
from services.booking.commands import Denied
from services.booking.domain import BookingError
from services.booking.fhir_input import FhirInputError
from services.common.json_input import BadJson, parse_json
from services.common.logging import get_logger

log = get_logger(__name__)
FHIR_JSON, JSON = "application/fhir+json", "application/json"
PURPOSE_HEADER = "X-Purpose-Of-Use"


@dataclass(frozen=True)
class Request:
    """What a route needs from an HTTP request (service.py builds it from werkzeug's)."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str
    request_id: str
    base_url: str
    path_args: dict[str, str] = field(default_factory=dict)

    @property
    def is_fhir(self) -> bool:
        """FHIR paths answer OperationOutcome, the others plain JSON errors."""
        return self.path.startswith("/fhir")

    @property
    def content_type(self) -> str:
        """The media type without parameters, lowercased."""
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def params(self) -> list[tuple[str, str]]:
        """The query string as (name, value) pairs, repeats kept (FHIR ANDs them)."""
        return parse_qsl(self.query_string, keep_blank_values=True)

    def bearer(self) -> str | None:
        """The bearer token, if one was sent."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def info(self) -> RequestInfo:
        """What the access record says about this request."""
        purpose = self.headers.get(PURPOSE_HEADER) or None
        if purpose is not None and purpose not in ACCESS_PURPOSES:
            raise ApiError(400, "value", f"{PURPOSE_HEADER} must be one of {list(ACCESS_PURPOSES)}")
        query = f"{self.method} {self.path}" + (
            f"?{self.query_string}" if self.query_string else ""
        )
        return RequestInfo(
            self.remote_addr, self.headers.get("User-Agent"), self.request_id, query, purpose
        )


@dataclass(frozen=True)
class Response:
    """A JSON response: status, body, extra headers, media type."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = FHIR_JSON


class ApiError(Exception):
    """A refusal with its HTTP status, a FHIR issue code and a sentence."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}


class Unauthenticated(ApiError):
    """401: no token, or identity refused it (unknown, expired, revoked, suspended)."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, "login", detail, {"WWW-Authenticate": 'Bearer realm="carnet"'})


class IdentityUnavailable(ApiError):
    """503: identity did not answer in time; nothing is served unauthenticated."""

    def __init__(self) -> None:
        super().__init__(
            503, "transient", "identity is unavailable, retry later", {"Retry-After": "1"}
        )


def load_json(req: Request, *accepted: str) -> Any:
    """The JSON body of one of the accepted media types: 415 otherwise, 400 if broken."""
    if req.content_type not in accepted:
        raise ApiError(415, "not-supported", f"send one of: {', '.join(accepted)}")
    try:
        return parse_json(req.body)
    except BadJson as error:
        raise ApiError(400, "structure", str(error)) from None


def path_uuid(req: Request, name: str) -> UUID:
    """A path id; anything but a UUID is simply not found."""
    try:
        return UUID(req.path_args[name])
    except (KeyError, ValueError):
        raise ApiError(404, "not-found", f"no such {name.removesuffix('_id')}") from None


def _error(req: Request, status: int, code: str, detail: str, headers: dict[str, str]) -> Response:
    if req.is_fhir:
        return Response(status, fhir.operation_outcome(code, detail), headers)
    return Response(status, {"error": code, "detail": detail}, headers, JSON)


def respond(req: Request, run: Callable[[], Response]) -> Response:
    """Run a route; every refusal is a 4xx (or 503) body, anything unexpected a bare 500."""
    try:
        return run()
    except ApiError as error:
        return _error(req, error.status, error.code, error.detail, error.headers)
    except FhirInputError as error:
        return _error(req, error.status, error.code, error.diagnostics, {})
    except Denied as error:
        return _error(req, 403, "forbidden", error.detail, {})
    except BookingError as error:
        return _error(req, error.status, error.code, error.detail, {})
    except RecordingFailed:
        detail = "the access could not be recorded, so nothing is served; retry later"
        return _error(req, 503, "transient", detail, {"Retry-After": "1"})
    except (OperationalError, PoolTimeout) as error:
        # The database went away (a restart, a failover): nothing was served; a command's
        # outcome may be unknown, and a retry is safe (a booking is keyed by its slot).
        log.warning("booking.http.database_unavailable", error_type=type(error).__name__)
        detail = "the database is unavailable; retry later"
        return _error(req, 503, "transient", detail, {"Retry-After": "1"})
    except Exception as error:
        # The text may hold request data: log the type only, with the request id bound.
        log.error("booking.http.failed", error_type=type(error).__name__)
        return _error(req, 500, "exception", f"internal error, request {req.request_id}", {})
