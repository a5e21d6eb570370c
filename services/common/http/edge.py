"""One way to serve a route: body limit, authentication, the handler, every error mapped.

Rules that must hold on every route live here, not in each route: the body limit is checked
before anything else; nothing runs for a route that needs a caller until the caller is
authenticated; a refusal is handed to the service's `Site.refused` — booking records it as
an access with outcome denied — before it goes out; a lost database is a
503 to retry; anything unexpected is a bare 500 whose log line names the exception type only.
"""

from __future__ import annotations

from typing import Any

from psycopg import OperationalError
from psycopg_pool import PoolTimeout

from services.common.errors import DomainError, TooLarge
from services.common.http import negotiate
from services.common.http.errors import from_error, refusal
from services.common.http.request import Request, Response
from services.common.http.routes import Route
from services.common.logging import bind_context, get_logger

log = get_logger("carnet.http")


class Site:
    """What a service lends the edge for its routes: a context, a caller, hooks."""

    max_body = 64 * 1024

    def context(self) -> Any:
        """The dependencies a handler gets as its first argument (a use-case Ctx)."""
        return None

    def authenticate(self, ctx: Any, req: Request) -> Any:
        """The caller behind the request, or Unauthorized/Forbidden/Unavailable."""
        raise NotImplementedError

    def refused(
        self, ctx: Any, req: Request, principal: Any, route: Route, error: DomainError
    ) -> None:
        """Called before a refusal goes out, once the route is known (booking records it as a
        denied access: a refused token, a 403, an unknown id, a quota)."""

    def served(self, req: Request, principal: Any, route: Route) -> None:
        """Called after a handler answered (audit logs who read a trace)."""


def _run(site: Site, route: Route, req: Request) -> Response:
    if req.too_large:
        raise TooLarge(f"body over {site.max_body} bytes")
    if route.handler is None:
        raise LookupError(f"route {route.name} has no handler")
    if route.style == "fhir":
        negotiate.require_json(req)
    ctx = site.context()
    principal = None
    try:
        if route.auth:
            principal = site.authenticate(ctx, req)
        response = route.handler(ctx, req, principal)
    except DomainError as error:
        site.refused(ctx, req, principal, route, error)
        raise
    site.served(req, principal, route)
    return response


def serve(site: Site, route: Route, req: Request) -> Response:
    """Run the route for this request; every refusal in the route's format, never a trace."""
    bind_context(request_id=req.request_id)
    try:
        return _run(site, route, req)
    except DomainError as error:
        if error.kind == "unavailable":
            log.warning("http.unavailable", route=route.name, code=error.code)
        return from_error(route.style, error)
    except (OperationalError, PoolTimeout) as error:
        # The database went away (a restart, a failover): nothing was served; a command's
        # outcome may be unknown, and a retry is safe (a booking is keyed by its slot).
        log.warning("http.database_unavailable", route=route.name, error_type=type(error).__name__)
        return refusal(route.style, "unavailable", "the database is unavailable; retry later")
    except Exception as error:
        # The text may hold request data: log the type only, with the request id bound.
        log.error("http.failed", route=route.name, error_type=type(error).__name__)
        detail = f"internal error, request {req.request_id}"
        return refusal(route.style, "internal_error", detail)
