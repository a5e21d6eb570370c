"""The HTTP edge every service shares: correlation id echoed, latency and status measured.

All `@http` entrypoints of a nameko container are served by one `WebServer`, a shared
extension found by its type. `HttpEdge`, a dependency every service has (declared on
`HealthEndpoints`), brings a `CarnetWebServer` registered under that same key; nameko binds a
service's dependencies before its entrypoints, so every `@http` entrypoint — those service.py
files take straight from `nameko.web.handlers` included — is served by it. Its WSGI app:

- decides the request's correlation id once (the caller's `X-Correlation-ID` if valid, else
  a new one), hands it to the worker as context data (its log lines, RPC calls and events
  carry it) and returns it in the response's `X-Correlation-ID`, whatever the route answered;
- times the request into `carnet_http_request_duration_seconds` by service, method, route
  template (`/fhir/Appointment/<string:appointment_id>`, never the raw path) and status
  class, and counts `carnet_http_responses_total` by route and status class;
- counts refusals in `carnet_requests_denied_total` by service and reason class: a 401 is
  `authentication` (no token, or identity refused it), a 403 `authorization` (booking's
  reach refusals, identity's admin-only routes, audit's investigator-only ones);
- writes one `http.request` line per request (debug for health and metrics, info otherwise),
  in place of eventlet's access line, which carried neither the correlation id nor the route.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

from services.common.logging import get_logger
from services.common.metrics import HTTP_REQUEST_DURATION, HTTP_RESPONSES, REQUESTS_DENIED
from services.common.nameko_ext.http_protocol import CarnetProtocol
from services.common.nameko_ext.logging_context import CORRELATION_HEADER, valid_correlation_id
from services.common.nameko_ext.routing_errors import routing_error
from services.common.nameko_ext.worker_trace import TRACE_ENVIRON
from services.common.tracing import trace_headers

log = get_logger("carnet.http")

CORRELATION_ENVIRON = "carnet.correlation_id"
HEADER_ENVIRON = "HTTP_" + CORRELATION_HEADER.upper().replace("-", "_")
UNMATCHED = "unmatched"  # the route label of a 404/405: the raw path could be anything
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
QUIET_ROUTES = frozenset({"/health/live", "/health/ready", "/metrics"})
DENIED = {401: "authentication", 403: "authorization"}


def status_class(status: int) -> str:
    """`2xx`, `4xx`, `5xx` …: a label with a handful of values."""
    return f"{status // 100}xx"


def method_label(method: str) -> str:
    """The HTTP method, or OTHER: a client must not be able to mint label values."""
    return method if method in METHODS else "OTHER"


def observe(service: str, method: str, route: str, status: int, seconds: float) -> None:
    """Record one answered request in the latency histogram and the status counter."""
    klass = status_class(status)
    HTTP_REQUEST_DURATION.labels(service, method_label(method), route, klass).observe(seconds)
    HTTP_RESPONSES.labels(service, route, klass).inc()
    if status in DENIED:
        REQUESTS_DENIED.labels(service, DENIED[status]).inc()


StartResponse = Callable[..., Any]


class EdgeWsgiApp(WsgiApp):
    """nameko's WsgiApp (same routing and dispatch) with the correlation id and measurements."""

    def __init__(self, server: WebServer, service: str) -> None:
        super().__init__(server)
        self.service = service

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Route as nameko does; answer with X-Correlation-ID; measure whatever happens."""
        started = time.perf_counter()
        correlation_id = valid_correlation_id(environ.get(HEADER_ENVIRON)) or str(uuid.uuid4())
        environ[CORRELATION_ENVIRON] = correlation_id
        environ[HEADER_ENVIRON] = correlation_id  # request.headers shows the id in force
        method = str(environ.get("REQUEST_METHOD", ""))
        route, entrypoint, status = UNMATCHED, None, 500

        def respond(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = int(status_line.split(" ", 1)[0])
            kept = [(k, v) for k, v in headers if k.lower() != CORRELATION_HEADER.lower()]
            return start_response(
                status_line, [*kept, (CORRELATION_HEADER, correlation_id)], exc_info
            )

        # As nameko's WsgiApp: shallow, so nothing reads the body before the entrypoint does.
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            try:
                provider, values = adapter.match()
                route, entrypoint = provider.url, provider.method_name
                request.path_values = values
                rv = provider.handle_request(request)
            except HTTPException as exc:
                rv = routing_error(exc, request.path)  # JSON, not werkzeug's HTML page
            return rv(environ, respond)
        finally:
            seconds = time.perf_counter() - started
            observe(self.service, method, route, status, seconds)
            (log.debug if route in QUIET_ROUTES else log.info)(
                "http.request",
                service=self.service,
                correlation_id=correlation_id,
                method=method_label(method),
                route=route,
                entrypoint=entrypoint,
                status=status,
                duration_ms=round(seconds * 1000, 2),
                **environ.get(TRACE_ENVIRON, {}),  # the worker's span, when one ran
            )


class CarnetWebServer(WebServer):
    """nameko's web server, shared under nameko's own key, serving through `EdgeWsgiApp`."""

    @property
    def sharing_key(self) -> type:
        """The key nameko's `@http` entrypoints look their server up by: they find this one."""
        return WebServer

    def get_wsgi_app(self) -> EdgeWsgiApp:
        """nameko's documented hook for WSGI middleware."""
        return EdgeWsgiApp(self, self.container.service_name)

    def get_wsgi_server(self, sock: Any, wsgi_app: Any, *args: Any, **kwargs: Any) -> Any:
        """eventlet's server, minus its access line: `http.request` replaces it (with ids);
        its own refusals (414, 431, a bad request line) in the services' JSON format.

        Its logger stays: errors and tracebacks are still logged.
        """
        kwargs.setdefault("protocol", CarnetProtocol)
        server = super().get_wsgi_server(sock, wsgi_app, *args, **kwargs)
        server.log_output = False
        return server

    def context_data_from_headers(self, request: Any) -> dict[str, Any]:
        """The worker runs under the correlation id the edge decided and the caller's trace."""
        correlation_id = request.environ.get(CORRELATION_ENVIRON)
        found = {k.lower(): v for k, v in request.headers.items()}
        return {
            **({"correlation_id": correlation_id} if correlation_id else {}),
            **trace_headers(found),  # a caller's W3C trace context: the worker's span's parent
        }


class HttpEdge(DependencyProvider):
    """Puts `CarnetWebServer` in front of every `@http` entrypoint of the service."""

    server = CarnetWebServer()

    def setup(self) -> None:
        """Refuse to start if an HTTP entrypoint escaped the edge (e.g. another server type)."""
        strays = sorted(
            entrypoint.method_name
            for entrypoint in self.container.entrypoints
            if isinstance(entrypoint, HttpRequestHandler) and entrypoint.server is not self.server
        )
        if strays:
            raise RuntimeError(f"HTTP entrypoints not behind the Carnet edge: {strays}")
