"""Identity entrypoints: practitioners, patients, connectors, grants and tokens (issue #4)."""

from __future__ import annotations

import os
from typing import Any

from eventlet import tpool
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http

from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.http_api import HttpApi
from services.common.nameko_ext.inbox_provider import InboxProvider
from services.common.nameko_ext.quorum_rpc import rpc
from services.identity import containment, tokens
from services.identity.context import Ctx
from services.identity.errors import AuthenticationError
from services.identity.routes import API, IdentitySite
from services.identity.settings import Settings, settings_from_config

P, C = "/v1/practitioners/<string:practitioner_id>", "/v1/connectors/<string:connector_id>"
A = "/v1/accounts/<string:principal_id>"


class SettingsProvider(DependencyProvider):
    """Identity's settings, read once: a bad value stops the service at start, not each call."""

    def setup(self) -> None:
        """Refuses to start on a wrong or retired key (settings.py says which)."""
        self.settings = settings_from_config(self.container.config, os.environ)

    def get_dependency(self, worker_ctx: Any) -> Settings:
        """The same settings for every worker."""
        return self.settings


class IdentityService(CarnetService):
    """Owns who is who and who may read what. HTTP routes: routes.py; schemas: schemas.py."""

    name = "identity"
    api = HttpApi(API)
    inbox = InboxProvider()
    settings = SettingsProvider()

    def _ctx(self) -> Ctx:
        return Ctx(self.db, self.store, self.settings, offload=tpool.execute)

    def site(self) -> IdentitySite:
        """What the HTTP edge needs of identity for one request."""
        return IdentitySite(self._ctx())

    @http("POST", "/oauth/token")
    def oauth_token(self, request: Any) -> Any:
        """RFC 6749 token endpoint: client_credentials (connectors), password (people)."""
        return self.api.serve(request)

    @http("POST", "/v1/practitioners")
    def register_practitioner(self, request: Any) -> Any:
        """Admin: a practitioner (optionally with a password)."""
        return self.api.serve(request)

    @http("GET", P)
    def get_practitioner(self, request: Any, practitioner_id: str) -> Any:
        """Admin or the practitioner: as registered."""
        return self.api.serve(request, practitioner_id=practitioner_id)

    @http("POST", "/v1/patients")
    def register_patient(self, request: Any) -> Any:
        """Admin: a patient with contact details and language."""
        return self.api.serve(request)

    @http("GET", "/v1/patients/<string:patient_id>")
    def get_patient(self, request: Any, patient_id: str) -> Any:
        """Admin or the patient: as registered."""
        return self.api.serve(request, patient_id=patient_id)

    @http("POST", "/v1/staff")
    def register_staff(self, request: Any) -> Any:
        """Admin: an admin or an investigator."""
        return self.api.serve(request)

    @http("GET", "/v1/staff/<string:staff_id>")
    def get_staff(self, request: Any, staff_id: str) -> Any:
        """Admin or the staff member: as registered."""
        return self.api.serve(request, staff_id=staff_id)

    @http("POST", "/v1/connectors")
    def register_connector(self, request: Any) -> Any:
        """Admin: a connector; the client secret is in this response only."""
        return self.api.serve(request)

    @http("GET", C)
    def get_connector(self, request: Any, connector_id: str) -> Any:
        """Admin: a connector's status and grants."""
        return self.api.serve(request, connector_id=connector_id)

    @http("GET", f"{P}/grants")
    def get_grants(self, request: Any, practitioner_id: str) -> Any:
        """Admin or the practitioner: the grants they gave."""
        return self.api.serve(request, practitioner_id=practitioner_id)

    @http("POST", f"{P}/grants")
    def post_grant(self, request: Any, practitioner_id: str) -> Any:
        """Admin or the practitioner: grant a connector scopes on this agenda."""
        return self.api.serve(request, practitioner_id=practitioner_id)

    @http("DELETE", f"{P}/grants/<string:connector_id>")
    def delete_grant(self, request: Any, practitioner_id: str, connector_id: str) -> Any:
        """Admin or the practitioner: revoke a connector's grant."""
        return self.api.serve(request, practitioner_id=practitioner_id, connector_id=connector_id)

    @http("POST", f"{C}/suspend")
    def suspend_connector(self, request: Any, connector_id: str) -> Any:
        """Admin: suspend a connector and revoke its tokens."""
        return self.api.serve(request, connector_id=connector_id)

    @http("POST", f"{C}/reinstate")
    def reinstate_connector(self, request: Any, connector_id: str) -> Any:
        """Admin: let a suspended connector ask for tokens again."""
        return self.api.serve(request, connector_id=connector_id)

    @http("POST", f"{C}/rotate-secret")
    def rotate_secret(self, request: Any, connector_id: str) -> Any:
        """Admin: a new client secret (shown once); the old one stops working."""
        return self.api.serve(request, connector_id=connector_id)

    @http("PUT", f"{C}/quota")
    def put_quota(self, request: Any, connector_id: str) -> Any:
        """Admin: a connector's read quota per hour and at once, until changed or a time."""
        return self.api.serve(request, connector_id=connector_id)

    @http("POST", f"{C}/trust")
    def trust_connector(self, request: Any, connector_id: str) -> Any:
        """Admin: findings on the connector get no automatic response for some hours."""
        return self.api.serve(request, connector_id=connector_id)

    @http("PUT", f"{A}/quota")
    def put_account_quota(self, request: Any, principal_id: str) -> Any:
        """Admin: a person's read quota per hour and at once, until changed or a time."""
        return self.api.serve(request, principal_id=principal_id)

    @http("POST", f"{A}/trust")
    def trust_account(self, request: Any, principal_id: str) -> Any:
        """Admin: findings on the account get no automatic response for some hours."""
        return self.api.serve(request, principal_id=principal_id)

    @http("POST", f"{A}/suspend")
    def suspend_account(self, request: Any, principal_id: str) -> Any:
        """Admin: suspend a practitioner's, patient's or staff account; tokens revoked."""
        return self.api.serve(request, principal_id=principal_id)

    @http("POST", f"{A}/reinstate")
    def reinstate_account(self, request: Any, principal_id: str) -> Any:
        """Admin: let a suspended person sign in again."""
        return self.api.serve(request, principal_id=principal_id)

    @http("POST", f"{A}/reset-credentials")
    def reset_credentials(self, request: Any, principal_id: str) -> Any:
        """Admin: the password stops working and every token is revoked."""
        return self.api.serve(request, principal_id=principal_id)

    @http("PUT", f"{A}/password")
    def set_password(self, request: Any, principal_id: str) -> Any:
        """Admin: a new password for a person (after a reset)."""
        return self.api.serve(request, principal_id=principal_id)

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
        """Throttle or suspend as audit recommends, by policy (containment.py; inbox: once)."""
        containment.on_suspicious_access(self._ctx(), self.inbox, event)
