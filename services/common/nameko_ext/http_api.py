"""nameko's `@http` entrypoints served through a service's route table (services/common/http).

A service declares `api = HttpApi(routes.API)` and keeps one-line entrypoints:

    @http("GET", "/fhir/Appointment/<string:appointment_id>")
    def read_appointment(self, request, appointment_id):
        return self.api.serve(request, appointment_id=appointment_id)

The route is the table's entry named like the entrypoint; the service's `site()` lends the
context and the caller. This module only translates werkzeug to `Request` and `Response`
back: every rule lives in services/common/http/edge.py. At start, the container refuses to
run if its `@http` entrypoints and the table disagree (name, method or path).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response as WerkzeugResponse

from services.common.http.edge import Site, serve
from services.common.http.health import PUBLIC_ROUTES
from services.common.http.openapi import document
from services.common.http.request import JSON, Request, Response
from services.common.http.routes import Api

REQUEST_ID = "X-Request-ID"


def surface(entrypoints: Iterable[Any]) -> set[tuple[str, str, str]]:
    """(entrypoint, method, path) of every `@http` entrypoint among these."""
    return {
        (e.method_name, e.method.upper(), e.url)
        for e in entrypoints
        if isinstance(e, HttpRequestHandler)
    }


def table_surface(api: Api) -> set[tuple[str, str, str]]:
    """(entrypoint, method, path) the table and the shared public routes declare."""
    return {(r.name, r.method, r.werkzeug_path) for r in (*api.routes, *PUBLIC_ROUTES)}


def _body(request: Any, limit: int) -> bytes:
    """At most limit + 1 bytes of the body (one more says it is too large), chunked or not.

    werkzeug reads no body without a Content-Length (its safe default for servers that do not
    say the input ends); eventlet's input does decode chunked bodies, so they are read there.
    """
    if request.content_length is not None:
        return request.stream.read(limit + 1) if request.content_length <= limit else b""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return request.environ["wsgi.input"].read(limit + 1)
    return b""


def to_request(request: Any, path_args: dict[str, str], site: Site) -> Request:
    """werkzeug's request as a `Request`, the body read up to the site's limit, never beyond."""
    limit, length = site.max_body, request.content_length or 0
    body = _body(request, limit)
    request_id = (request.headers.get(REQUEST_ID) or str(uuid.uuid4()))[:200]
    base = getattr(site, "public_base_url", "") or request.host_url.rstrip("/")
    return Request(
        method=request.method,
        path=request.path,
        query_string=request.query_string.decode("latin-1"),
        headers=dict(request.headers.items()),
        body=body,
        remote_addr=request.remote_addr or "0.0.0.0",  # noqa: S104 (an address, not a bind)
        request_id=request_id,
        base_url=base,
        path_args=path_args,
        too_large=length > limit or len(body) > limit,
    )


def to_werkzeug(response: Response, request_id: str | None = None) -> WerkzeugResponse:
    """A `Response` as werkzeug sends it, with the request id echoed."""
    headers = dict(response.headers)
    if request_id:
        headers[REQUEST_ID] = request_id
    return WerkzeugResponse(
        response.encoded(), response.status, headers, mimetype=response.media_type
    )


class Served:
    """What a worker gets: `serve(request, **path_args)` and the service's document."""

    def __init__(self, api: Api, worker_ctx: Any) -> None:
        self.api, self.worker_ctx = api, worker_ctx

    def serve(self, request: Any, **path_args: str) -> WerkzeugResponse:
        """Run the route named like the running entrypoint, through the shared edge."""
        route = self.api.route(self.worker_ctx.entrypoint.method_name)
        site: Site = self.worker_ctx.service.site()
        req = to_request(request, path_args, site)
        return to_werkzeug(serve(site, route, req), req.request_id)

    def document(self) -> WerkzeugResponse:
        """The OpenAPI document generated from the table."""
        return to_werkzeug(Response(200, document(self.api), media_type=JSON))


class HttpApi(DependencyProvider):
    """A service's route table, served behind its `@http` entrypoints."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def setup(self) -> None:
        """Refuse to start when the `@http` entrypoints and the table disagree."""
        served, declared = surface(self.container.entrypoints), table_surface(self.api)
        if served != declared:
            raise RuntimeError(
                f"{self.api.service}: @http entrypoints without a route: "
                f"{sorted(served - declared)}; routes without an entrypoint: "
                f"{sorted(declared - served)}"
            )

    def get_dependency(self, worker_ctx: Any) -> Served:
        """The table, bound to this worker's entrypoint and service."""
        return Served(self.api, worker_ctx)
