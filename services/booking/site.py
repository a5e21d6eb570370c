"""The edge's view of booking: its use-case context, identity's principals, evidence, quotas.

The shared edge (services/common/http/edge.py) asks `BookingSite` who the caller is and hands
it every refusal once the route is known; booking records each attempt it refuses (401, 403,
404, 429) before the answer goes out (evidence.py). A failed authentication costs its source
address a token, and routes that read appointments are `metered` in the route table: one
token of the caller's quota is taken before they run (quota.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from contracts.booking import ACCESS_PURPOSES
from services.booking import evidence, quota
from services.booking.access import RequestInfo
from services.booking.context import Ctx
from services.booking.reach import Principal, from_identity
from services.common.errors import DomainError, Invalid, Unauthorized
from services.common.http.edge import Site
from services.common.http.request import Request, Response
from services.common.http.routes import Handler, Route
from services.common.logging import bind_context
from services.common.principals import token_fingerprint

PURPOSE_HEADER = "X-Purpose-Of-Use"


def request_info(req: Request, strict: bool = True) -> RequestInfo:
    """What the access record says about this request; 400 for a purpose it would refuse
    (not `strict`: a refusal's record, which leaves such a purpose out instead)."""
    purpose = req.headers.get(PURPOSE_HEADER) or None
    if purpose is not None and purpose not in ACCESS_PURPOSES:
        if strict:
            raise Invalid(f"{PURPOSE_HEADER} must be one of {list(ACCESS_PURPOSES)}", code="value")
        purpose = None
    query = f"{req.method} {req.path}" + (f"?{req.query_string}" if req.query_string else "")
    token = req.bearer()
    return RequestInfo(
        req.remote_addr,
        req.headers.get("User-Agent"),
        req.request_id,
        query,
        purpose,
        token_fingerprint(token) if token else None,
    )


class BookingSite(Site):
    """The edge's view of booking: a use-case context, identity's principals, denials recorded."""

    def __init__(self, ctx: Ctx, auth: Callable[[str], dict[str, Any]]) -> None:
        self.ctx, self.auth = ctx, auth
        self.max_body = ctx.settings.max_body_bytes
        self.public_base_url = ctx.settings.public_base_url

    def context(self) -> Ctx:
        """The same Ctx for the whole request."""
        return self.ctx

    def authenticate(self, ctx: Ctx, req: Request) -> Principal:
        """The bearer token's principal, as identity says (through the shared cache); a failed
        attempt costs its source address a token (429 once none is left)."""
        try:
            principal = from_identity(self.auth(req.bearer_required()))
        except Unauthorized:
            quota.admit_failure(ctx, req.remote_addr)
            raise
        bind_context(principal_kind=principal.kind, principal_id=str(principal.id))
        return principal

    def refused(
        self, ctx: Ctx, req: Request, p: Principal | None, route: Route, error: DomainError
    ) -> None:
        """Every attempt refused (401, 403, 404, 429) is recorded before the answer goes out."""
        if route.operation:
            info = request_info(req, strict=False)
            evidence.record_refusal(ctx, p, info, route.operation, error)


def metered(handler: Handler, write: bool = False) -> Handler:
    """A route that reads appointments: one token of the caller's quota is taken before it
    runs, so a refused or empty read costs what a served one does. A write that asked for
    `Prefer: return=minimal` reads nothing and is not charged; a 429 comes before any write."""

    @functools.wraps(handler)
    def run(ctx: Ctx, req: Request, p: Principal) -> Response:
        if not (write and asked_minimal(req)):
            quota.admit(ctx, p)
        return handler(ctx, req, p)

    return run


def asked_minimal(req: Request) -> bool:
    """FHIR's Prefer: return=minimal: answer a write without the resource."""
    return "return=minimal" in req.headers.get("Prefer", "")
