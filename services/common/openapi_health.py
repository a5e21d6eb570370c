"""OpenAPI paths of what every service serves without credentials: health, metrics, the document.

They mirror services/common/nameko_ext/health.py; each service's openapi.py adds them, so a
client (or schemathesis) sees the whole surface of the port.
"""

from __future__ import annotations

from typing import Any

from services.common.openapi_parts import JSON
from services.common.openapi_parts import reply as _body


def _public(op_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"operationId": op_id, "summary": summary, "responses": responses, "security": []}


def health_paths() -> dict[str, Any]:
    """/health/live, /health/ready, /metrics and /openapi.json, as HealthEndpoints answers."""
    health = {
        "type": "object",
        "required": ["service", "status"],
        "properties": {
            "service": {"type": "string"},
            "status": {"enum": ["live", "ready", "not-ready"]},
            "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
        },
    }
    return {
        "/health/live": {
            "get": _public(
                "health_live", "The process answers", {"200": _body(health, JSON, "Live")}
            )
        },
        "/health/ready": {
            "get": _public(
                "health_ready",
                "Database, broker and relay loop",
                {"200": _body(health, JSON, "Ready"), "503": _body(health, JSON, "Not ready")},
            )
        },
        "/metrics": {
            "get": _public(
                "metrics",
                "Prometheus metrics (no personal data)",
                {"200": _body({"type": "string"}, "text/plain", "Prometheus text format")},
            )
        },
        "/openapi.json": {
            "get": _public(
                "openapi", "This document", {"200": _body({"type": "object"}, JSON, "OpenAPI 3.1")}
            )
        },
    }


def document(service: str, version: str = "1") -> dict[str, Any]:
    """The document of a service whose only HTTP routes are these (notification)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Carnet {service}", "version": version},
        "paths": health_paths(),
        "components": {},
    }
