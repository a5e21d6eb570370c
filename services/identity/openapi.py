"""The OpenAPI 3.1 document, generated from the route table and its marshmallow schemas.

apispec is not installable here, so this small generator reuses contracts.json_schema (the same
converter the AsyncAPI export uses); OpenAPI 3.1 schemas are JSON Schema, so the output fits.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema

from contracts.json_schema import schema_to_json_schema
from services.common.openapi_health import health_paths
from services.identity import schemas
from services.identity.routes import ROUTES, Route

_PARAM = re.compile(r"{(\w+)}")
JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def _ref(schema: type[Schema]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema.__name__}"}


def _operation(route: Route) -> dict[str, Any]:
    error = schemas.OAuthErrorOut if route.form else schemas.ErrorOut
    op: dict[str, Any] = {
        "operationId": f"{route.method.lower()}_{route.path.strip('/').replace('/', '_')}".replace(
            "{", ""
        )
        .replace("}", "")
        .replace("-", "_"),
        "summary": route.summary,
        "responses": {
            str(route.status): {
                "description": "OK",
                "content": {JSON: {"schema": _ref(route.response)}},
            },
            "4XX": {"description": "Refused", "content": {JSON: {"schema": _ref(error)}}},
        },
    }
    params = _PARAM.findall(route.path)
    if params:
        op["parameters"] = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
            for p in params
        ]
    if route.request is not None:
        media = FORM if route.form else JSON
        content = {media: {"schema": _ref(route.request)}}
        op["requestBody"] = {"required": route.body_required, "content": content}
    op["security"] = [{"bearer": []}] if route.bearer else []
    return op


def document(version: str = "1") -> dict[str, Any]:
    """The whole document: paths from ROUTES (and the shared health routes), their schemas."""
    paths: dict[str, dict[str, Any]] = {}
    used: set[type[Schema]] = {schemas.ErrorOut, schemas.OAuthErrorOut}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
        used |= {route.response} | ({route.request} if route.request else set())
    paths.update(health_paths())
    components = {
        s.__name__: schema_to_json_schema(s, closed=s.__name__.endswith("In"))
        for s in sorted(used, key=lambda s: s.__name__)
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Carnet identity", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
