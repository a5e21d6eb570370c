"""Liveness, readiness and metrics endpoints shared by every service (no personal data, no auth)."""

from __future__ import annotations

import json
from typing import Any

from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Response

from services.common.amqp import node_uris
from services.common.nameko_ext.http_metrics import HttpEdge
from services.common.nameko_ext.relay_runner import RelayRunner

JSON = "application/json"


def broker_reachable(amqp_uri: str) -> bool:
    """True when some node of the broker accepts a connection now (each tried once)."""
    try:
        with Connection(amqp_uri, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=len(node_uris(amqp_uri)))
    except Exception:
        return False
    return True


def json_response(status: int, body: dict[str, Any]) -> Response:
    """A small JSON response; errors elsewhere use the same shape."""
    return Response(json.dumps(body), status=status, mimetype=JSON)


class RelayProbe(DependencyProvider):
    """Tells a worker whether this container's relay loop is alive (None: it has no relay)."""

    def setup(self) -> None:
        """Find the container's RelayRunner(s) once."""
        self.runners = [d for d in self.container.dependencies if isinstance(d, RelayRunner)]

    def get_dependency(self, worker_ctx: Any) -> Any:
        """A callable: True when every relay loop runs (leading or standing by)."""
        runners = self.runners
        if not runners:
            return lambda: None
        return lambda: all(runner.is_running() for runner in runners)


class HealthEndpoints:
    """Mixin for a nameko service with a `db` DatabasePool and an `api` HttpApi: /health/live,
    /health/ready, /metrics and /openapi.json (services/common/http/health.py lists them).

    It also puts every HTTP entrypoint of the service behind the shared edge (`http_edge`:
    X-Correlation-ID in every response, HTTP metrics, access lines; see http_metrics.py).
    """

    name: str
    api: Any  # the service's HttpApi (services/common/nameko_ext/http_api.py)
    http_edge = HttpEdge()
    relay_probe = RelayProbe()

    @http("GET", "/health/live")
    def health_live(self, request: Any) -> Response:
        """The process answers: restart it if this fails."""
        return json_response(200, {"service": self.name, "status": "live"})

    @http("GET", "/health/ready")
    def health_ready(self, request: Any) -> Response:
        """Relay loop alive, database and broker reachable: route traffic here only if 200.

        The relay counts when its loop runs, leading or standing by: a standby replica is
        healthy, a replica whose relay thread died is not (its events would wait for another).
        """
        checks = {
            "database": self.db_ready(),
            "broker": broker_reachable(self.config["AMQP_URI"]),
        }
        relay = self.relay_probe()
        if relay is not None:
            checks["relay"] = relay
        ok = all(checks.values())
        body = {"service": self.name, "status": "ready" if ok else "not-ready", "checks": checks}
        return json_response(200 if ok else 503, body)

    @http("GET", "/openapi.json")
    def openapi_json(self, request: Any) -> Response:
        """The OpenAPI 3.1 document, generated from the service's route table (public)."""
        return self.api.document()

    @http("GET", "/metrics")
    def metrics(self, request: Any) -> Response:
        """Prometheus text format: every metric of docs/runbook.md "Metrics" (no personal data)."""
        return Response(generate_latest(), status=200, mimetype=CONTENT_TYPE_LATEST)

    def db_ready(self) -> bool:
        """Run SELECT 1 on the service's pool."""
        try:
            with self.db.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
        except Exception:
            return False
        return True
