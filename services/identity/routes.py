"""Identity's HTTP routes: one small function each, and the table OpenAPI is generated from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from marshmallow import Schema

from services.identity import connectors, handlers, schemas, tokens, views
from services.identity.api import (
    Request,
    Response,
    actor,
    load_form,
    load_json,
    path_uuid,
)
from services.identity.context import Ctx
from services.identity.errors import Forbidden, OAuthError

RouteFn = Callable[[Ctx, Request], Response]


@dataclass(frozen=True)
class Route:
    """One endpoint: method, OpenAPI path, function, schemas, bearer token, optional body."""

    method: str
    path: str
    fn: RouteFn
    summary: str
    request: type[Schema] | None = None
    response: type[Schema] = schemas.ObjectOut
    status: int = 200
    form: bool = False
    bearer: bool = True
    body_required: bool = True


def _create(use_case: Callable, schema: type[Schema]) -> RouteFn:
    """A registration: admins only, refused before the body is even read."""

    def run(ctx: Ctx, req: Request) -> Response:
        who = actor(ctx, req)
        if not who.is_admin:
            raise Forbidden("only an admin may register")
        return Response(201, use_case(ctx, who, load_json(req, schema)))

    return run


def _get_person(kind: str) -> RouteFn:
    """A person's view: admins, or the person themself."""

    def run(ctx: Ctx, req: Request) -> Response:
        return Response(200, views.person(ctx, actor(ctx, req), kind, path_uuid(req, f"{kind}_id")))

    return run


def get_connector(ctx: Ctx, req: Request) -> Response:
    """A connector's view, for admins."""
    return Response(200, views.connector(ctx, actor(ctx, req), path_uuid(req, "connector_id")))


def get_grants(ctx: Ctx, req: Request) -> Response:
    """A practitioner's grants."""
    pid = path_uuid(req, "practitioner_id")
    return Response(200, views.grants_of_practitioner(ctx, actor(ctx, req), pid))


def post_grant(ctx: Ctx, req: Request) -> Response:
    """Grant scopes (the practitioner themself or an admin)."""
    who, pid = actor(ctx, req), path_uuid(req, "practitioner_id")
    data = load_json(req, schemas.GrantIn)
    return Response(201, handlers.grant(ctx, who, pid, data["connector_id"], data["scopes"]))


def delete_grant(ctx: Ctx, req: Request) -> Response:
    """Revoke a grant."""
    who, pid = actor(ctx, req), path_uuid(req, "practitioner_id")
    return Response(200, handlers.revoke_grant(ctx, who, pid, path_uuid(req, "connector_id")))


def suspend(ctx: Ctx, req: Request) -> Response:
    """Suspend by operator; the body (a reason) is optional."""
    who, cid = actor(ctx, req), path_uuid(req, "connector_id")
    data = load_json(req, schemas.SuspendIn) if req.body else {}
    return Response(200, connectors.suspend_by_operator(ctx, who, cid, data))


def reinstate(ctx: Ctx, req: Request) -> Response:
    """Reinstate explicitly."""
    return Response(200, connectors.reinstate(ctx, actor(ctx, req), path_uuid(req, "connector_id")))


def rotate_secret(ctx: Ctx, req: Request) -> Response:
    """Rotate the client secret."""
    cid = path_uuid(req, "connector_id")
    return Response(200, connectors.rotate_secret(ctx, actor(ctx, req), cid))


def oauth_token(ctx: Ctx, req: Request) -> Response:
    """RFC 6749 token endpoint: client_credentials for connectors, password for people."""
    data = load_form(req, schemas.TokenIn)
    scope = data["scope"].split() if data["scope"] is not None else None
    where = (req.remote_addr, req.request_id)
    if data["grant_type"] == "client_credentials":
        if not data["client_id"] or not data["client_secret"]:
            raise OAuthError("invalid_request", "client_id and client_secret are required")
        body = tokens.client_credentials(
            ctx, data["client_id"], data["client_secret"], scope, *where
        )
    elif data["grant_type"] == "password":
        if not data["username"] or not data["password"]:
            raise OAuthError("invalid_request", "username and password are required")
        body = tokens.password(ctx, data["username"], data["password"], scope, *where)
    else:
        raise OAuthError("unsupported_grant_type", "use client_credentials or password")
    return Response(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


register_practitioner = _create(handlers.register_practitioner, schemas.PractitionerIn)
register_patient = _create(handlers.register_patient, schemas.PatientIn)
register_staff = _create(handlers.register_staff, schemas.StaffIn)
register_connector = _create(handlers.register_connector, schemas.ConnectorIn)
get_practitioner = _get_person("practitioner")
get_patient = _get_person("patient")
get_staff = _get_person("staff")

P, C = "/v1/practitioners/{practitioner_id}", "/v1/connectors/{connector_id}"
ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/practitioners",
        register_practitioner,
        "Register a practitioner",
        schemas.PractitionerIn,
        status=201,
    ),
    Route("GET", P, get_practitioner, "A practitioner"),
    Route(
        "POST",
        "/v1/patients",
        register_patient,
        "Register a patient",
        schemas.PatientIn,
        status=201,
    ),
    Route("GET", "/v1/patients/{patient_id}", get_patient, "A patient"),
    Route(
        "POST",
        "/v1/staff",
        register_staff,
        "Register an admin or investigator",
        schemas.StaffIn,
        status=201,
    ),
    Route("GET", "/v1/staff/{staff_id}", get_staff, "A staff member"),
    Route(
        "POST",
        "/v1/connectors",
        register_connector,
        "Register a connector (the secret is shown once)",
        schemas.ConnectorIn,
        schemas.ConnectorCreated,
        status=201,
    ),
    Route("GET", C, get_connector, "A connector, its status and grants"),
    Route("GET", f"{P}/grants", get_grants, "The grants a practitioner gave"),
    Route(
        "POST",
        f"{P}/grants",
        post_grant,
        "Grant a connector scopes on an agenda",
        schemas.GrantIn,
        schemas.GrantOut,
        status=201,
    ),
    Route("DELETE", f"{P}/grants/{{connector_id}}", delete_grant, "Revoke a grant"),
    Route(
        "POST",
        f"{C}/suspend",
        suspend,
        "Suspend a connector and revoke its tokens",
        schemas.SuspendIn,
        schemas.StatusOut,
        body_required=False,  # the reason has a default
    ),
    Route(
        "POST",
        f"{C}/reinstate",
        reinstate,
        "Reinstate a suspended connector",
        response=schemas.StatusOut,
    ),
    Route(
        "POST",
        f"{C}/rotate-secret",
        rotate_secret,
        "New client secret, shown once",
        response=schemas.SecretOut,
    ),
    Route(
        "POST",
        "/oauth/token",
        oauth_token,
        "OAuth2 token (client_credentials, password)",
        schemas.TokenIn,
        schemas.TokenOut,
        form=True,
        bearer=False,
    ),
)
