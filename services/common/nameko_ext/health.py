"""Liveness, readiness and metrics endpoints shared by every service (no personal data, no auth)."""

from __future__ import annotations

import json
from typing import Any

from kombu import Connection
from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Response

JSON = "application/json"


def broker_reachable(amqp_uri: str) -> bool:
    """True when the broker accepts a connection now."""
    try:
        with Connection(amqp_uri, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception:
        return False
    return True


def json_response(status: int, body: dict[str, Any]) -> Response:
    """A small JSON response; errors elsewhere use the same shape."""
    return Response(json.dumps(body), status=status, mimetype=JSON)


class HealthEndpoints:
    """Mixin for a nameko service with a `db` DatabasePool: /health/live and /health/ready."""

    name: str

    @http("GET", "/health/live")
    def health_live(self, request: Any) -> Response:
        """The process answers: restart it if this fails."""
        return json_response(200, {"service": self.name, "status": "live"})

    @http("GET", "/health/ready")
    def health_ready(self, request: Any) -> Response:
        """Database and broker reachable: route traffic here only if this is 200."""
        checks = {
            "database": self.db_ready(),
            "broker": broker_reachable(self.config["AMQP_URI"]),
        }
        ok = all(checks.values())
        body = {"service": self.name, "status": "ready" if ok else "not-ready", "checks": checks}
        return json_response(200 if ok else 503, body)

    @http("GET", "/metrics")
    def metrics(self, request: Any) -> Response:
        """Prometheus text format: relay lag, dead letters, requeues (no personal data)."""
        return Response(generate_latest(), status=200, mimetype=CONTENT_TYPE_LATEST)

    def db_ready(self) -> bool:
        """Run SELECT 1 on the service's pool."""
        try:
            with self.db.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
        except Exception:
            return False
        return True
