"""The HTTP edge without werkzeug: parse bodies, authenticate callers, map every error to JSON."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from marshmallow import RAISE, Schema, ValidationError

from services.common.json_input import BadJson, parse_json, unstorable_text
from services.common.logging import get_logger
from services.common.metrics import REQUESTS_DENIED
from services.identity import tokens
from services.identity.context import Actor, Ctx
from services.identity.domain import DomainError
from services.identity.errors import AuthenticationError, Forbidden, OAuthError, Unauthorized

log = get_logger(__name__)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# Token endpoint refusals answered 400, by the reason class of carnet_requests_denied_total.
DENIED_OAUTH = {"invalid_grant": "authentication", "invalid_scope": "authorization"}


@dataclass(frozen=True)
class Request:
    """What a route needs from an HTTP request (service.py builds it from werkzeug's)."""

    method: str
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str
    request_id: str
    path_args: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        """The media type without parameters, lowercased."""
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Response:
    """A JSON response: status, body, extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A 4xx with a code and a detail (marshmallow's field messages for bad input)."""

    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


def load_json(req: Request, schema: type[Schema]) -> dict[str, Any]:
    """A JSON object body validated by `schema`: 415 wrong type, 400 broken JSON or bad fields."""
    if req.content_type != JSON:
        raise ApiError(415, "unsupported_media_type", f"send {JSON}")
    try:
        data = parse_json(req.body)
    except BadJson as error:
        raise ApiError(400, "malformed_json", str(error)) from None
    return _load(schema, data)


def load_form(req: Request, schema: type[Schema]) -> dict[str, Any]:
    """A form-encoded body (OAuth2's token endpoint); repeated keys are invalid_request."""
    if req.content_type != FORM:
        raise OAuthError("invalid_request", f"send {FORM}")
    try:
        pairs = parse_qsl(req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "body is not UTF-8") from None
    data: dict[str, str] = {}
    for key, value in pairs:
        if key in data:
            raise OAuthError("invalid_request", f"parameter {key!r} is repeated")
        if unstorable_text(key + value):
            raise OAuthError("invalid_request", f"parameter {key!r} holds a NUL character")
        data[key] = value
    try:
        return schema().load(data, unknown=RAISE)
    except ValidationError as error:
        fields = ", ".join(sorted(error.messages)) if isinstance(error.messages, dict) else "body"
        raise OAuthError("invalid_request", f"invalid parameters: {fields}") from None


def _load(schema: type[Schema], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", {"_schema": ["Expected a JSON object."]})
    try:
        return schema().load(data, unknown=RAISE)
    except ValidationError as error:
        raise ApiError(400, "invalid_request", error.messages) from None


def path_uuid(req: Request, name: str) -> UUID:
    """A path id; anything but a UUID is simply not found."""
    try:
        return UUID(req.path_args[name])
    except (KeyError, ValueError):
        raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}") from None


def actor(ctx: Ctx, req: Request) -> Actor:
    """The caller behind `Authorization: Bearer ...`; a presented bad token is a failed sign-in."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    try:
        principal = tokens.authenticate(ctx, token.strip())
    except AuthenticationError as error:
        tokens.record_failure(ctx, "invalid_token", req.remote_addr, req.request_id)
        raise Unauthorized(f"token {error.reason}") from None
    return Actor(UUID(principal["id"]), principal["kind"], principal.get("role"))


def respond(run: Callable[[], Response]) -> Response:
    """Run a route; every refusal becomes a JSON 4xx, anything unexpected a bare 500, no trace."""
    try:
        return run()
    except ApiError as error:
        return Response(error.status, {"error": error.error, "detail": error.detail})
    except OAuthError as error:
        if error.error in DENIED_OAUTH:
            # A failed sign-in or a scope beyond the principal's answers 400 (RFC 6749 §5.2),
            # not the 401/403 the HTTP edge counts as denied: count it here.
            REQUESTS_DENIED.labels("identity", DENIED_OAUTH[error.error]).inc()
        headers = {"WWW-Authenticate": "Basic"} if error.status == 401 else {}
        body = {"error": error.error, "error_description": error.description}
        return Response(error.status, body, {**headers, "Cache-Control": "no-store"})
    except Unauthorized as error:
        body = {"error": "unauthorized", "detail": str(error)}
        return Response(401, body, {"WWW-Authenticate": "Bearer"})
    except Forbidden as error:
        return Response(403, {"error": "forbidden", "detail": str(error)})
    except DomainError as error:
        return Response(error.status, {"error": error.code, "detail": error.detail})
    except Exception as error:
        # The exception's text may hold request data (a unique key's value): log its type only.
        log.error("identity.http.failed", error_type=type(error).__name__)
        return Response(500, {"error": "internal_error", "detail": "see the logs by request id"})
