"""Identity's HTTP routes: one small function each, and the table the edge serves and documents.

A handler is (ctx, request, actor) -> Response; the edge authenticated the actor (a bearer
token identity itself checks, a failed one recorded as AuthenticationFailed), except on the
token endpoint, whose client authenticates with its credentials in the form body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from marshmallow import Schema

from services.common.errors import DomainError, Forbidden, Unauthorized
from services.common.http.body import json_object, load
from services.common.http.edge import Site
from services.common.http.request import Request, Response
from services.common.http.routes import Api, Route
from services.common.json_input import unstorable_text
from services.common.metrics import REQUESTS_DENIED
from services.identity import accounts, commands, connectors, queries, quotas, schemas, tokens
from services.identity.context import Actor, Ctx
from services.identity.errors import AuthenticationError, oauth_error
from services.identity.smart import is_smart

FORM = "application/x-www-form-urlencoded"
# Token endpoint refusals answered 400, by the reason class of carnet_requests_denied_total.
DENIED_OAUTH = {"invalid_grant": "authentication", "invalid_scope": "authorization"}
Handler = Callable[[Ctx, Request, Actor], Response]


class IdentitySite(Site):
    """The edge's view of identity: its use-case context and its own bearer tokens."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.max_body = ctx, ctx.settings.max_body_bytes

    def context(self) -> Ctx:
        """The same Ctx for the whole request."""
        return self.ctx

    def authenticate(self, ctx: Ctx, req: Request) -> Actor:
        """The caller behind the bearer token; a presented bad token is a failed sign-in."""
        token = req.bearer_required()
        try:
            principal = tokens.authenticate(ctx, token)
        except AuthenticationError as error:
            tokens.record_failure(ctx, "invalid_token", req.remote_addr, req.request_id)
            raise Unauthorized(f"token {error.reason}") from None
        return Actor(UUID(principal["id"]), principal["kind"], principal.get("role"))


def oauth_form(req: Request, schema: type[Schema]) -> dict[str, Any]:
    """A form-encoded body (OAuth2's token endpoint); anything odd is invalid_request."""
    if req.content_type != FORM:
        raise oauth_error("invalid_request", f"send {FORM}")
    try:
        pairs = parse_qsl(req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise oauth_error("invalid_request", "body is not UTF-8") from None
    data: dict[str, str] = {}
    for key, value in pairs:
        if key in data:
            raise oauth_error("invalid_request", f"parameter {key!r} is repeated")
        if unstorable_text(key + value):
            raise oauth_error("invalid_request", f"parameter {key!r} holds a NUL character")
        data[key] = value
    try:
        return load(schema, data)
    except DomainError as error:
        names = ", ".join(sorted(getattr(error, "fields", None) or {"body": ""}))
        raise oauth_error("invalid_request", f"invalid parameters: {names}") from None


def _create(use_case: Callable[..., Any], schema: type[Schema]) -> Handler:
    """A registration: admins only, refused before the body is even read."""

    def run(ctx: Ctx, req: Request, who: Actor) -> Response:
        if not who.is_admin:
            raise Forbidden("only an admin may register")
        return Response(201, use_case(ctx, who, json_object(req, schema)))

    return run


def _get_person(kind: str) -> Handler:
    """A person's view: admins, or the person themself."""

    def run(ctx: Ctx, req: Request, who: Actor) -> Response:
        return Response(200, queries.person(ctx, who, kind, req.path_uuid(f"{kind}_id")))

    return run


def get_connector(ctx: Ctx, req: Request, who: Actor) -> Response:
    """A connector's view, for admins."""
    return Response(200, queries.connector(ctx, who, req.path_uuid("connector_id")))


def get_grants(ctx: Ctx, req: Request, who: Actor) -> Response:
    """A practitioner's grants."""
    pid = req.path_uuid("practitioner_id")
    return Response(200, queries.grants_of_practitioner(ctx, who, pid))


def post_grant(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Grant scopes (the practitioner themself or an admin)."""
    pid = req.path_uuid("practitioner_id")
    data = json_object(req, schemas.GrantIn)
    return Response(201, commands.grant(ctx, who, pid, data["connector_id"], data["scopes"]))


def delete_grant(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Revoke a grant."""
    pid, cid = req.path_uuid("practitioner_id"), req.path_uuid("connector_id")
    return Response(200, commands.revoke_grant(ctx, who, pid, cid))


def suspend_connector(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Suspend by operator; the body (a reason) is optional."""
    cid = req.path_uuid("connector_id")
    data = json_object(req, schemas.SuspendIn) if req.body else {}
    return Response(200, connectors.suspend_by_operator(ctx, who, cid, data))


def reinstate_connector(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Reinstate explicitly."""
    return Response(200, connectors.reinstate(ctx, who, req.path_uuid("connector_id")))


def rotate_secret(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Rotate the client secret."""
    return Response(200, connectors.rotate_secret(ctx, who, req.path_uuid("connector_id")))


def put_quota(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Set a connector's read quota (shape 400, values 422)."""
    data = json_object(req, schemas.QuotaIn)
    return Response(200, quotas.set_quota(ctx, who, req.path_uuid("connector_id"), data))


def trust_connector(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Trust a connector for some hours."""
    data = json_object(req, schemas.TrustIn)
    return Response(200, quotas.trust(ctx, who, req.path_uuid("connector_id"), data))


def put_account_quota(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Set a person's read quota (shape 400, values 422)."""
    data = json_object(req, schemas.QuotaIn)
    pid = req.path_uuid("principal_id")
    return Response(200, quotas.set_quota(ctx, who, pid, data, quotas.ACCOUNTS))


def trust_account(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Trust a person's account for some hours."""
    data = json_object(req, schemas.TrustIn)
    pid = req.path_uuid("principal_id")
    return Response(200, quotas.trust(ctx, who, pid, data, quotas.ACCOUNTS))


def suspend_account(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Suspend a person; the body (a reason) is optional."""
    data = json_object(req, schemas.SuspendIn) if req.body else {}
    return Response(200, accounts.suspend(ctx, who, req.path_uuid("principal_id"), data))


def reinstate_account(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Reinstate a person explicitly."""
    return Response(200, accounts.reinstate(ctx, who, req.path_uuid("principal_id")))


def reset_credentials(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Clear a person's password and revoke their tokens."""
    return Response(200, accounts.reset_credentials(ctx, who, req.path_uuid("principal_id")))


def set_password(ctx: Ctx, req: Request, who: Actor) -> Response:
    """Give a person a new password."""
    password = json_object(req, schemas.PasswordIn)["password"]
    return Response(200, accounts.set_password(ctx, who, req.path_uuid("principal_id"), password))


def _grant(ctx: Ctx, req: Request, data: dict[str, Any]) -> dict[str, Any]:
    asked = data["scope"].split() if data["scope"] is not None else None
    answer = _issue(ctx, req, data, asked)  # SMART names translated once the client is known
    if asked and any(is_smart(s) for s in asked):
        answer["scope"] = " ".join(dict.fromkeys(asked))  # in the vocabulary it was asked in
    return answer


def _issue(ctx: Ctx, req: Request, data: dict[str, Any], scope: list[str] | None) -> dict[str, Any]:
    where = (req.remote_addr, req.request_id)
    if data["grant_type"] == "client_credentials":
        if not data["client_id"] or not data["client_secret"]:
            raise oauth_error("invalid_request", "client_id and client_secret are required")
        return tokens.client_credentials(
            ctx, data["client_id"], data["client_secret"], scope, *where
        )
    if data["grant_type"] == "password":
        if not data["username"] or not data["password"]:
            raise oauth_error("invalid_request", "username and password are required")
        return tokens.password(ctx, data["username"], data["password"], scope, *where)
    raise oauth_error("unsupported_grant_type", "use client_credentials or password")


def oauth_token(ctx: Ctx, req: Request, _: None) -> Response:
    """RFC 6749 token endpoint: client_credentials for connectors, password for people."""
    try:
        body = _grant(ctx, req, oauth_form(req, schemas.TokenIn))
    except DomainError as error:
        if error.code in DENIED_OAUTH:
            # A failed sign-in or a scope beyond the principal's answers 400 (RFC 6749 §5.2),
            # not the 401/403 the HTTP edge counts as denied: count it here.
            REQUESTS_DENIED.labels("identity", DENIED_OAUTH[error.code]).inc()
        raise
    return Response(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


P, C = "/v1/practitioners/{practitioner_id}", "/v1/connectors/{connector_id}"
A = "/v1/accounts/{principal_id}"  # a practitioner's, patient's or staff member's account
VALUES = {422: "A value out of its range (the message names each)"}
SELF_OR_VALUES = {422: "A value out of its range, or your own account"}
API = Api(
    "identity",
    "Practitioners, patients, staff, connectors, grants and OAuth2 tokens.",
    (
        Route("oauth_token", "POST", "/oauth/token", oauth_token,
              "OAuth2 token (client_credentials, password)", style="oauth", auth=False,
              request=schemas.TokenIn, accepts=(FORM,), response=schemas.TokenOut),
        Route("register_practitioner", "POST", "/v1/practitioners",
              _create(commands.register_practitioner, schemas.PractitionerIn),
              "Register a practitioner", status=201, request=schemas.PractitionerIn,
              response=schemas.ObjectOut),
        Route("get_practitioner", "GET", P, _get_person("practitioner"), "A practitioner",
              response=schemas.ObjectOut),
        Route("register_patient", "POST", "/v1/patients",
              _create(commands.register_patient, schemas.PatientIn), "Register a patient",
              status=201, request=schemas.PatientIn, response=schemas.ObjectOut),
        Route("get_patient", "GET", "/v1/patients/{patient_id}", _get_person("patient"),
              "A patient", response=schemas.ObjectOut),
        Route("register_staff", "POST", "/v1/staff",
              _create(commands.register_staff, schemas.StaffIn),
              "Register an admin or investigator", status=201, request=schemas.StaffIn,
              response=schemas.ObjectOut),
        Route("get_staff", "GET", "/v1/staff/{staff_id}", _get_person("staff"),
              "A staff member", response=schemas.ObjectOut),
        Route("register_connector", "POST", "/v1/connectors",
              _create(commands.register_connector, schemas.ConnectorIn),
              "Register a connector (the secret is shown once)", status=201,
              request=schemas.ConnectorIn, response=schemas.ConnectorCreated),
        Route("get_connector", "GET", C, get_connector, "A connector, its status and grants",
              response=schemas.ObjectOut),
        Route("get_grants", "GET", f"{P}/grants", get_grants, "The grants a practitioner gave",
              response=schemas.ObjectOut),
        Route("post_grant", "POST", f"{P}/grants", post_grant,
              "Grant a connector scopes on an agenda", status=201, request=schemas.GrantIn,
              response=schemas.GrantOut),
        Route("delete_grant", "DELETE", f"{P}/grants/{{connector_id}}", delete_grant,
              "Revoke a grant", response=schemas.ObjectOut),
        Route("suspend_connector", "POST", f"{C}/suspend", suspend_connector,
              "Suspend a connector and revoke its tokens", request=schemas.SuspendIn,
              body_required=False, response=schemas.StatusOut),
        Route("reinstate_connector", "POST", f"{C}/reinstate", reinstate_connector,
              "Reinstate a suspended connector", response=schemas.StatusOut),
        Route("rotate_secret", "POST", f"{C}/rotate-secret", rotate_secret,
              "New client secret, shown once", response=schemas.SecretOut),
        Route("put_quota", "PUT", f"{C}/quota", put_quota,
              "Set a connector's read quota (booking enforces it)", request=schemas.QuotaIn,
              response=schemas.QuotaOut, errors=VALUES),
        Route("trust_connector", "POST", f"{C}/trust", trust_connector,
              "No automatic throttle or suspension for some hours", request=schemas.TrustIn,
              response=schemas.TrustOut, errors=VALUES),
        Route("put_account_quota", "PUT", f"{A}/quota", put_account_quota,
              "Set a person's read quota (booking enforces it)", request=schemas.QuotaIn,
              response=schemas.AccountQuotaOut, errors=SELF_OR_VALUES),
        Route("trust_account", "POST", f"{A}/trust", trust_account,
              "No automatic throttle or suspension of this account for some hours",
              request=schemas.TrustIn, response=schemas.AccountTrustOut, errors=SELF_OR_VALUES),
        Route("suspend_account", "POST", f"{A}/suspend", suspend_account,
              "Suspend a person's account and revoke its tokens", request=schemas.SuspendIn,
              body_required=False, response=schemas.AccountOut,
              errors={422: "Not your own account"}),
        Route("reinstate_account", "POST", f"{A}/reinstate", reinstate_account,
              "Reinstate a suspended account", response=schemas.AccountOut),
        Route("reset_credentials", "POST", f"{A}/reset-credentials", reset_credentials,
              "Clear the password and revoke every token", response=schemas.AccountOut,
              errors={422: "Not your own account"}),
        Route("set_password", "PUT", f"{A}/password", set_password,
              "Give the account a new password", request=schemas.PasswordIn,
              response=schemas.AccountOut),
    ),
)  # fmt: skip
