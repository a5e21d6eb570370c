"""The routes every service serves without credentials: health, metrics, the document.

The HealthEndpoints mixin (services/common/nameko_ext/health.py) answers them; they are
routes here so the document describes the whole port and the surface test sees them.
"""

from __future__ import annotations

from services.common.http.routes import Component, Route

HEALTH = Component(
    "Health",
    {
        "type": "object",
        "required": ["service", "status"],
        "properties": {
            "service": {"type": "string"},
            "status": {"enum": ["live", "ready", "not-ready"]},
            "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
        },
    },
)
PUBLIC_ROUTES = (
    Route("health_live", "GET", "/health/live", None, "The process answers", auth=False,
          response=HEALTH),
    Route("health_ready", "GET", "/health/ready", None, "Database, broker and relay loop",
          auth=False, response=HEALTH, also={503: "Not ready"}),
    Route("metrics", "GET", "/metrics", None, "Prometheus metrics (no personal data)",
          auth=False, response={"type": "string"}, produces="text/plain"),
    Route("openapi_json", "GET", "/openapi.json", None, "This document", auth=False,
          response={"type": "object"}),
)  # fmt: skip
