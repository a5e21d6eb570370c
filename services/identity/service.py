"""Identity entrypoints: practitioners, patients, connectors, grants and tokens (issue #4)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from eventlet import tpool
from nameko.rpc import rpc
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.identity import api, connectors, openapi, routes, tokens
from services.identity.context import Ctx
from services.identity.errors import AuthenticationError
from services.identity.settings import settings_from_config

P, C = "/v1/practitioners/<string:practitioner_id>", "/v1/connectors/<string:connector_id>"


def _json(response: api.Response) -> Response:
    return Response(json.dumps(response.body), response.status, response.headers, mimetype=api.JSON)


class IdentityService(CarnetService):
    """Owns who is who and who may read what. HTTP logic: routes.py; schemas: schemas.py."""

    name = "identity"
    inbox = InboxProvider()

    def _ctx(self) -> Ctx:
        return Ctx(self.db, self.store, settings_from_config(self.config), offload=tpool.execute)

    def _serve(self, request: Any, fn: routes.RouteFn, **path_args: str) -> Response:
        """Read at most the body limit (413 beyond), build the plain request, map every error."""
        ctx = self._ctx()
        limit = ctx.settings.max_body_bytes
        body = b""
        if (request.content_length or 0) <= limit:
            body = request.stream.read(limit + 1)
        if (request.content_length or 0) > limit or len(body) > limit:
            return _json(
                api.Response(413, {"error": "payload_too_large", "detail": f"max {limit} bytes"})
            )
        req = api.Request(
            method=request.method,
            headers=dict(request.headers.items()),
            body=body,
            remote_addr=request.remote_addr or "0.0.0.0",  # noqa: S104 (an address, not a bind)
            request_id=request.headers.get("X-Request-ID") or str(uuid.uuid4()),
            path_args=path_args,
        )
        return _json(api.respond(lambda: fn(ctx, req)))

    @http("GET", "/openapi.json")
    def openapi_json(self, request: Any) -> Response:
        """The OpenAPI 3.1 document generated from routes.ROUTES (public, like health)."""
        return _json(api.Response(200, openapi.document()))

    @http("POST", "/oauth/token")
    def oauth_token(self, request: Any) -> Response:
        """RFC 6749 token endpoint: client_credentials (connectors), password (people)."""
        return self._serve(request, routes.oauth_token)

    @http("POST", "/v1/practitioners")
    def register_practitioner(self, request: Any) -> Response:
        """Admin: a practitioner (optionally with a password)."""
        return self._serve(request, routes.register_practitioner)

    @http("GET", P)
    def get_practitioner(self, request: Any, practitioner_id: str) -> Response:
        """Admin or the practitioner: as registered."""
        return self._serve(request, routes.get_practitioner, practitioner_id=practitioner_id)

    @http("POST", "/v1/patients")
    def register_patient(self, request: Any) -> Response:
        """Admin: a patient with contact details and language."""
        return self._serve(request, routes.register_patient)

    @http("GET", "/v1/patients/<string:patient_id>")
    def get_patient(self, request: Any, patient_id: str) -> Response:
        """Admin or the patient: as registered."""
        return self._serve(request, routes.get_patient, patient_id=patient_id)

    @http("POST", "/v1/staff")
    def register_staff(self, request: Any) -> Response:
        """Admin: an admin or an investigator."""
        return self._serve(request, routes.register_staff)

    @http("GET", "/v1/staff/<string:staff_id>")
    def get_staff(self, request: Any, staff_id: str) -> Response:
        """Admin or the staff member: as registered."""
        return self._serve(request, routes.get_staff, staff_id=staff_id)

    @http("POST", "/v1/connectors")
    def register_connector(self, request: Any) -> Response:
        """Admin: a connector; the client secret is in this response only."""
        return self._serve(request, routes.register_connector)

    @http("GET", C)
    def get_connector(self, request: Any, connector_id: str) -> Response:
        """Admin: a connector's status and grants."""
        return self._serve(request, routes.get_connector, connector_id=connector_id)

    @http("GET", f"{P}/grants")
    def get_grants(self, request: Any, practitioner_id: str) -> Response:
        """Admin or the practitioner: the grants they gave."""
        return self._serve(request, routes.get_grants, practitioner_id=practitioner_id)

    @http("POST", f"{P}/grants")
    def post_grant(self, request: Any, practitioner_id: str) -> Response:
        """Admin or the practitioner: grant a connector scopes on this agenda."""
        return self._serve(request, routes.post_grant, practitioner_id=practitioner_id)

    @http("DELETE", f"{P}/grants/<string:connector_id>")
    def delete_grant(self, request: Any, practitioner_id: str, connector_id: str) -> Response:
        """Admin or the practitioner: revoke a connector's grant."""
        ids = {"practitioner_id": practitioner_id, "connector_id": connector_id}
        return self._serve(request, routes.delete_grant, **ids)

    @http("POST", f"{C}/suspend")
    def suspend_connector(self, request: Any, connector_id: str) -> Response:
        """Admin: suspend a connector and revoke its tokens."""
        return self._serve(request, routes.suspend, connector_id=connector_id)

    @http("POST", f"{C}/reinstate")
    def reinstate_connector(self, request: Any, connector_id: str) -> Response:
        """Admin: let a suspended connector ask for tokens again."""
        return self._serve(request, routes.reinstate, connector_id=connector_id)

    @http("POST", f"{C}/rotate-secret")
    def rotate_secret(self, request: Any, connector_id: str) -> Response:
        """Admin: a new client secret (shown once); the old one stops working."""
        return self._serve(request, routes.rotate_secret, connector_id=connector_id)

    @rpc(expected_exceptions=AuthenticationError)
    def authenticate(
        self, token: str | None = None, token_sha256: str | None = None
    ) -> dict[str, Any]:
        """The principal behind a token, with its reach per scope; AuthenticationError(reason).

        Services send `token_sha256` (hex), never the token: RPC requests cross the broker.
        """
        if token_sha256 is not None:
            return tokens.authenticate_digest(self._ctx(), tokens.parse_digest(token_sha256))
        return tokens.authenticate(self._ctx(), token or "")

    @consume_event("audit", "SuspiciousAccessDetected")
    def on_suspicious_access(self, event: Any) -> None:
        """Suspend the connector when policy says so for the detection rule (inbox: once)."""
        connectors.on_suspicious_access(self._ctx(), self.inbox, event)
