"""What a route needs of an HTTP request and gives back: plain values, no web framework.

The nameko edge (services/common/nameko_ext/http_api.py) builds a `Request` from werkzeug's
and turns a `Response` back into werkzeug's, so routes and their tests need neither.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from services.common.errors import NotFound, Unauthorized

JSON, FHIR_JSON = "application/json", "application/fhir+json"


@dataclass(frozen=True)
class Request:
    """One request as received: the body read up to the service's limit, never beyond."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str
    request_id: str
    base_url: str
    path_args: Mapping[str, str] = field(default_factory=dict)
    too_large: bool = False  # the body was over the limit: the edge answers 413 first

    @property
    def content_type(self) -> str:
        """The media type without parameters, lowercased."""
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def params(self) -> list[tuple[str, str]]:
        """The query string as (name, value) pairs, repeats kept (FHIR ANDs them)."""
        return parse_qsl(self.query_string, keep_blank_values=True)

    def args(self) -> dict[str, list[str]]:
        """The query string as name -> every value given, in order."""
        found: dict[str, list[str]] = {}
        for name, value in self.params():
            found.setdefault(name, []).append(value)
        return found

    def bearer(self) -> str | None:
        """The bearer token, if one was sent."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def bearer_required(self) -> str:
        """The bearer token; without one, nothing runs (401)."""
        token = self.bearer()
        if token is None:
            raise Unauthorized("send Authorization: Bearer <token>")
        return token

    def path_uuid(self, name: str) -> UUID:
        """A path id; anything but a UUID is simply not found."""
        try:
            return UUID(self.path_args[name])
        except (KeyError, ValueError):
            raise NotFound(f"no such {name.removesuffix('_id')}") from None


@dataclass
class Response:
    """A response: status, body (JSON-ready, text, or None), extra headers, media type."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON

    def encoded(self) -> bytes:
        """The body as sent: JSON for JSON media types, UTF-8 text otherwise, empty for None."""
        if self.body is None:
            return b""
        if isinstance(self.body, str) and "json" not in self.media_type:
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")
