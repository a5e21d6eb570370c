"""The OpenAPI 3.1 document of a service, generated from its route table and schemas.

marshmallow schemas become JSON Schema through contracts.json_schema, the converter the
AsyncAPI export uses (one converter for both documents, no new dependency); FHIR bodies are
`Component`s that point at the R4 specification, whose validator is fhir.resources. Every
authenticated route documents the refusals the edge itself may answer (401, 403, 503, and
400/404/413/415 where the route has parameters or a body) besides its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, fields

from contracts.json_schema import schema_to_json_schema
from services.common.http.errors import Style
from services.common.http.health import PUBLIC_ROUTES
from services.common.http.request import JSON
from services.common.http.routes import UUID_SCHEMA, Api, Body, Component, Route

R4 = "https://hl7.org/fhir/R4"


class Error(Schema):
    """Every refusal outside FHIR and OAuth2: a kind, a sentence, per-field messages if any."""

    error = fields.String(required=True)
    detail = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields")


class OAuthError(Schema):
    """RFC 6749 §5.2."""

    error = fields.String(required=True)
    error_description = fields.String(required=True)


NO_BODY = frozenset({204, 304})  # answers that never carry a body


def fhir_resource(resource: str, **properties: Any) -> Component:
    """A FHIR resource, loosely: its type is fixed, the rest is the R4 specification's."""
    return Component(
        resource,
        {
            "type": "object",
            "description": f"FHIR R4 {resource}: {R4}/{resource.lower()}.html",
            "required": ["resourceType"],
            "properties": {"resourceType": {"const": resource}, **properties},
        },
    )


OPERATION_OUTCOME = fhir_resource("OperationOutcome", issue={"type": "array", "minItems": 1})
REFUSAL_BODY: dict[Style, Body] = {"fhir": OPERATION_OUTCOME, "json": Error, "oauth": OAuthError}


def _standard_refusals(route: Route) -> dict[int, str]:
    """What the edge may answer on this route before or around its handler."""
    found: dict[int, str] = {413: "Body over the size limit (checked before anything else)"}
    if route.params or route.path_params or route.request is not None:
        found[400] = "Invalid input: the answer names the parameter or field"
    if route.auth:
        found |= {
            401: "No bearer token, or identity refused it",
            403: "Outside the caller's rights",
            503: "Identity or the database is unavailable: nothing done, retry",
        }
    if route.path_params:
        found[404] = "No such resource"
    if route.request is not None:
        found[415] = f"Not {' or '.join(route.accepts)}"
    return found


class _Document:
    """Collects the component schemas while it writes the paths."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.schemas: dict[str, Any] = {}
        self.requests = {s for r in api.routes for s in _members(r.request) if _is_schema(s)}

    def ref(self, body: Body | Mapping[str, Any]) -> dict[str, Any]:
        """A reference to the body's component (added on first use), or an inline schema."""
        if isinstance(body, tuple):
            return {"oneOf": [self.ref(member) for member in body]}
        if isinstance(body, Component):
            self.schemas[body.name] = dict(body.schema)
            return {"$ref": f"#/components/schemas/{body.name}"}
        if _is_schema(body):
            name = body.__name__
            self.schemas[name] = schema_to_json_schema(body, closed=body in self.requests)
            return {"$ref": f"#/components/schemas/{name}"}
        return dict(body)

    def operation(self, route: Route) -> dict[str, Any]:
        """One operation: parameters, body, answers, security."""
        ok = self.ref(route.response) if route.response is not None else {"type": "object"}
        answer: dict[str, Any] = {"description": "OK", "content": {route.produces: {"schema": ok}}}
        if route.headers:
            answer["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in route.headers.items()
            }
        responses: dict[str, Any] = {str(route.status): answer}
        refused = self.ref(REFUSAL_BODY[route.style])
        for status, text in route.also.items():
            body = {} if status in NO_BODY else {"content": answer["content"]}
            responses[str(status)] = {"description": text, **body}
        if route.pending is not None:
            responses["202"] = {
                "description": "Not final yet: ask again after Retry-After",
                "headers": {
                    "Retry-After": {"description": "Seconds", "schema": {"type": "string"}}
                },
                "content": {JSON: {"schema": self.ref(route.pending)}},
            }
        refusals = _standard_refusals(route) if route.handler is not None else {}
        for status, text in sorted({**refusals, **route.errors}.items()):
            responses[str(status)] = {
                "description": text,
                "content": {route.media: {"schema": refused}},
            }
        if route.handler is not None:  # the shared public routes refuse nothing
            responses["4XX"] = {
                "description": "Refused",
                "content": {route.media: {"schema": refused}},
            }
        op: dict[str, Any] = {"operationId": route.name, "summary": route.summary}
        params = [
            {
                "name": n,
                "in": "path",
                "required": True,
                "schema": UUID_SCHEMA,
                "description": "A UUID.",
            }
            for n in route.path_params
        ] + [
            {"name": p.name, "in": p.where, "schema": dict(p.schema), "description": p.text}
            for p in route.params
        ]
        if params:
            op["parameters"] = params
        if route.request is not None:
            schema = self.ref(route.request)
            content = {media: {"schema": schema} for media in route.accepts}
            op["requestBody"] = {"required": route.body_required, "content": content}
        op["responses"] = responses
        op["security"] = [{"bearer": []}] if route.auth else []
        return op


def _members(body: Body | None) -> Iterable[Any]:
    if body is None:
        return ()
    return body if isinstance(body, tuple) else (body,)


def _is_schema(body: Any) -> bool:
    return isinstance(body, type) and issubclass(body, Schema)


def document(api: Api, version: str = "1") -> dict[str, Any]:
    """The whole document: the service's routes, then the public ones every service serves."""
    doc = _Document(api)
    for component in api.components:
        doc.ref(component)
    paths: dict[str, dict[str, Any]] = {}
    for route in (*api.routes, *PUBLIC_ROUTES):
        paths.setdefault(route.path, {})[route.method.lower()] = doc.operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Carnet {api.service}",
            "version": version,
            "description": api.description,
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(doc.schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
