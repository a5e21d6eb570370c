"""A service's HTTP interface as data: one `Route` per `@http` entrypoint, in one `Api` table.

The table is what the edge serves (handler, authentication, error format, access-record
operation), what `/openapi.json` is generated from (schemas, parameters, refusals), and what
a test compares with the service's `@http` entrypoints: written once, never restated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema

from services.common.http.errors import Style
from services.common.http.request import FHIR_JSON, JSON, Request, Response

STRING: dict[str, Any] = {"type": "string"}
UUID_SCHEMA: dict[str, Any] = {"type": "string", "format": "uuid"}
INSTANT: dict[str, Any] = {"type": "string", "format": "date-time"}
_TEMPLATE = re.compile(r"{(\w+)}")

Handler = Callable[[Any, Request, Any], Response]


@dataclass(frozen=True)
class Component:
    """A body described by a JSON Schema of its own (FHIR resources, free-form answers)."""

    name: str
    schema: Mapping[str, Any]


# A body: a marshmallow schema, a component, an inline JSON Schema, or a tuple (one of them).
Body = type[Schema] | Component | Mapping[str, Any] | tuple["type[Schema] | Component", ...]


@dataclass(frozen=True)
class Param:
    """A query or header parameter, as the document describes it."""

    name: str
    text: str
    schema: Mapping[str, Any] = field(default_factory=lambda: STRING)
    where: str = "query"


@dataclass(frozen=True)
class Route:
    """One endpoint: how it is served and how it is documented."""

    name: str  # the service.py entrypoint that serves it (and the operationId)
    method: str
    path: str  # OpenAPI template: /fhir/Appointment/{appointment_id}
    handler: Handler | None  # None: served by the shared health mixin, not through the table
    summary: str
    style: Style = "json"
    auth: bool = True
    status: int = 200
    request: Body | None = None
    accepts: tuple[str, ...] = (JSON,)
    body_required: bool = True
    response: Body | None = None
    produces: str = JSON
    params: tuple[Param, ...] = ()
    operation: str | None = None  # booking: the access-record operation a refusal is recorded as
    errors: Mapping[int, str] = field(default_factory=dict)  # refusals besides the standard ones
    headers: Mapping[str, str] = field(default_factory=dict)  # response headers worth naming
    also: Mapping[int, str] = field(default_factory=dict)  # other statuses with the same body
    pending: Body | None = None  # 202's body, while the answer is not final (Retry-After)

    @property
    def path_params(self) -> list[str]:
        """The path's variables, in order."""
        return _TEMPLATE.findall(self.path)

    @property
    def werkzeug_path(self) -> str:
        """The same path as nameko's `@http` spells it."""
        return _TEMPLATE.sub(r"<string:\1>", self.path)

    @property
    def media(self) -> str:
        """The media type of its refusals."""
        return FHIR_JSON if self.style == "fhir" else JSON


@dataclass(frozen=True)
class Api:
    """A service's whole HTTP interface: its routes and what the document says of it."""

    service: str
    description: str
    routes: tuple[Route, ...]
    components: tuple[Component, ...] = ()

    def route(self, name: str) -> Route:
        """The route an entrypoint serves; KeyError names an entrypoint with no route."""
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(f"{self.service}: no route for entrypoint {name!r}")
