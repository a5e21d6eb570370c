"""Audit entrypoints: the tamper-evident ledger, replay and investigations (issue #6)."""

import json
from typing import Any

import eventlet
from kombu.exceptions import OperationalError as BrokerUnavailable
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.timer import Timer
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.audit import access_index, fhir_export, handlers, http_api, incident_api, openapi
from services.audit.detection import engine as detection
from services.audit.settings import (
    DEFAULT_CHECKPOINT_SECONDS,
    DEFAULT_TAIL_VERIFY_SECONDS,
    AuditSettings,
    bearer_token_ok,
)
from services.audit.signing import Signer, signer_from_config
from services.common.logging import configure_structlog, has_json_handler
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.consumer import ALL_EVENTS, consume_event
from services.common.nameko_ext.health import json_response
from services.common.principals import PrincipalCache, token_sha256


class LedgerSigner(DependencyProvider):
    """Loads the checkpoint signing key at setup: no key, no start (SigningKeyError)."""

    def setup(self) -> None:
        """Fail the container now, with the reason, rather than run with unsigned heads."""
        # Extensions are set up in no fixed order: make sure structlog renders JSON before the
        # ephemeral-key warning, as LoggingContext.setup would (idempotent).
        if has_json_handler():
            configure_structlog(self.container.service_name)
        self.signer = signer_from_config(self.container.config)

    def get_dependency(self, worker_ctx: Any) -> Signer:
        """The same signer for every worker."""
        return self.signer


class ConfiguredTimer(Timer):
    """nameko's timer, its interval read from the config at setup, not at import."""

    def __init__(self, config_key: str, default: float, **kwargs: Any) -> None:
        self.config_key, self.default = config_key, default
        super().__init__(interval=default, **kwargs)

    def setup(self) -> None:
        """Interval from the config, else the default."""
        value = self.container.config.get(self.config_key)
        self.interval = self.default if value in (None, "") else float(value)


class InvestigatorCache(DependencyProvider):
    """One short-lived cache of identity's principals per process, in front of authenticate."""

    def setup(self) -> None:
        """TTL from the config, capped at a second (http_api.settings)."""
        ttl, self.timeout_s = http_api.settings(self.container.config)
        self.cache = PrincipalCache(ttl_s=ttl)  # each worker passes its own RPC proxy

    def get_dependency(self, worker_ctx: Any) -> "InvestigatorCache":
        """The same cache for every worker."""
        return self


class AuditService(CarnetService):
    """Keeps every event of every service in a hash-chained ledger."""

    name = "audit"
    signer = LedgerSigner()

    @consume_event("identity", ALL_EVENTS)
    def ledger_identity(self, event):
        """Every identity event, once."""
        handlers.record(self.db, event)

    @consume_event("booking", ALL_EVENTS)
    def ledger_booking(self, event):
        """Every booking event (accesses included), once."""
        handlers.record(self.db, event)

    @consume_event("notification", ALL_EVENTS)
    def ledger_notification(self, event):
        """Every notification event, once."""
        handlers.record(self.db, event)

    @consume_event("audit", ALL_EVENTS)
    def ledger_audit(self, event):
        """Audit's own events too, its checkpoints included."""
        handlers.record(self.db, event)

    @ConfiguredTimer.decorator("LEDGER_CHECKPOINT_SECONDS", DEFAULT_CHECKPOINT_SECONDS)
    def checkpoint(self):
        """Sign a tree head when the ledger grew; one replica at a time (try-lock)."""
        handlers.checkpoint_now(self.db, self.store, self.signer)

    @http("GET", "/openapi.json")
    def openapi_json(self, request):
        """The OpenAPI 3.1 document of this interface (public, like health)."""
        return json_response(200, openapi.document())

    @ConfiguredTimer.decorator("AUDIT_TAIL_VERIFY_SECONDS", DEFAULT_TAIL_VERIFY_SECONDS)
    def verify_tail(self):
        """Check the ledger since the newest signed head: carnet_audit_ledger_verify_ok."""
        handlers.verify_tail_now(self.db, self.config, self.signer)

    @http("GET", "/v1/audit/verify")
    def verify(self, request):
        """The verify report; a static admin bearer token until identity issues real ones."""
        token = AuditSettings.from_config(self.config).admin_token
        if not bearer_token_ok(request.headers.get("Authorization"), token):
            return json_response(
                401, {"error": "unauthorized", "detail": "a valid admin bearer token is required"}
            )
        return json_response(200, handlers.verify_report(self.config, self.signer).to_dict())

    identity = RpcProxy("identity")
    investigators = InvestigatorCache()

    @ConfiguredTimer.decorator(
        "AUDIT_INDEX_INTERVAL_SECONDS", access_index.DEFAULT_INTERVAL_SECONDS
    )
    def index_accesses(self):
        """Keep the access index just behind the ledger; a replica skips while another works."""
        access_index.tick(self.db)

    def _principal(self, token: str) -> dict[str, Any]:
        """identity.authenticate through the cache: refused is 401, silent or failing 503."""
        try:
            with eventlet.Timeout(self.investigators.timeout_s):
                return self.investigators.cache.get(
                    token,
                    # The token's SHA-256, not the token: RPC requests cross the broker.
                    authenticate=lambda t: self.identity.authenticate(token_sha256=token_sha256(t)),
                )
        except (eventlet.Timeout, BrokerUnavailable, OSError):
            # Silence, or the broker down (the RPC cannot even be sent): retry later.
            raise http_api.identity_unavailable() from None
        except RemoteError as error:
            if error.exc_type == "AuthenticationError":
                reason = str(error.value).split()[0] if error.value else "refused"
                raise http_api.unauthenticated(f"token refused: {reason}") from None
            raise http_api.identity_unavailable() from None

    def _investigate(self, request, endpoint, handler, mimetype=None):
        """Staff investigators and admins only; the answer or a JSON error, never a trace."""
        if (request.content_length or 0) > incident_api.MAX_BODY:
            detail = f"max {incident_api.MAX_BODY} bytes"
            return json_response(413, {"error": "payload_too_large", "detail": detail})
        authorization = request.headers.get("Authorization")
        status, body = http_api.serve(authorization, self._principal, endpoint, handler)
        if mimetype and status == 200:
            return Response(body, status, mimetype=mimetype)
        return json_response(status, body)

    @http("GET", "/v1/audit/appointments/<string:appointment_id>/history")
    def appointment_history(self, request, appointment_id):
        """Every change and every access of one appointment, in ledger order."""
        return self._investigate(
            request, "history", lambda _p: http_api.history(self.db, appointment_id)
        )

    @http("GET", "/v1/audit/appointments/<string:appointment_id>/state")
    def appointment_state(self, request, appointment_id):
        """The appointment's administrative state as of ?as_of= (default now)."""
        args = request.args.to_dict(flat=False)
        return self._investigate(
            request, "state", lambda _p: http_api.state(self.db, appointment_id, args)
        )

    @http("GET", "/v1/audit/accesses")
    def access_records(self, request):
        """Access records of one principal, connector or patient, in a window."""
        args = request.args.to_dict(flat=False)
        return self._investigate(request, "accesses", lambda _p: http_api.accesses(self.db, args))

    # -- continuous detection (docs/audit.md "Detection rules"): one queue per handler --------
    @consume_event("booking", "AppointmentsAccessed")
    def detect_accesses(self, event):
        """D1-D6 over access records: windows, rules and detections commit once per event."""
        detection.handle(self.db, self.store, self.config, event)

    @consume_event("booking", "AppointmentBooked")
    def detect_bookings(self, event):
        """Booking activity per practitioner, what D2 weighs the patients read against."""
        detection.handle(self.db, self.store, self.config, event)

    @consume_event("identity", ("TokenIssued", "AuthenticationFailed"))
    def detect_sign_ins(self, event):
        """Addresses credentials came from (D5) and failed sign-ins per connector (D4)."""
        detection.handle(self.db, self.store, self.config, event)

    # -- incidents (docs/audit.md "Incidents"): investigators open, report, notify -------------
    @http("POST", "/v1/audit/incidents")
    def open_incident(self, request):
        """Open an incident for a connector or principal and a window; 201 with the report."""
        body = request.stream.read(incident_api.MAX_BODY + 1)  # at most: 413 beyond
        response = self._investigate(
            request,
            "incident.open",
            lambda p: incident_api.open_incident(self.db, self.store, body, p, request.mimetype),
        )
        if response.status_code == 200:
            response.status_code = 201
        return response

    @http("GET", "/v1/audit/incidents/<string:incident_id>")
    def incident_report(self, request, incident_id):
        """The incident's report as JSON, recomputed from the ledger."""
        return self._investigate(
            request, "incident.report", lambda _p: incident_api.get_report(self.db, incident_id)
        )

    @http("GET", "/v1/audit/incidents/<string:incident_id>/report.md")
    def incident_markdown(self, request, incident_id):
        """The same report for people (Markdown)."""
        return self._investigate(
            request,
            "incident.markdown",
            lambda _p: incident_api.report_markdown(self.db, incident_id),
            mimetype="text/markdown",
        )

    @http("GET", "/v1/audit/incidents/<string:incident_id>/patients.csv")
    def incident_patients(self, request, incident_id):
        """The affected patients as CSV (ids, counts, classes, exposure period)."""
        return self._investigate(
            request,
            "incident.csv",
            lambda _p: incident_api.patients_csv(self.db, incident_id),
            mimetype="text/csv",
        )

    @http("POST", "/v1/audit/incidents/<string:incident_id>/notify")
    def incident_notify(self, request, incident_id):
        """The investigator confirms: one Art. 34 notice request per affected patient, once."""
        return self._investigate(
            request,
            "incident.notify",
            lambda p: incident_api.notify(self.db, self.store, incident_id, p),
        )

    @http("POST", "/v1/audit/incidents/<string:incident_id>/regulator-notice")
    def incident_regulator_notice(self, request, incident_id):
        """Record that the Art. 33 notice is ready, against the 72-hour deadline."""
        return self._investigate(
            request,
            "incident.regulator",
            lambda p: incident_api.regulator_notice(self.db, self.store, incident_id, p),
        )

    @http("GET", "/fhir/AuditEvent")
    def audit_events(self, request):
        """Access records as FHIR R4 AuditEvents (IHE BALP), for investigators' FHIR tools."""
        args = request.args.to_dict(flat=False)
        base = request.host_url.rstrip("/")

        def run(_principal):
            with self.db.connection() as conn:
                return fhir_export.search(conn, args, base)

        authorization = request.headers.get("Authorization")
        status, body = http_api.serve(authorization, self._principal, "fhir.audit_event", run)
        if status != 200:
            code = {400: "invalid", 401: "login", 403: "forbidden"}.get(status, "exception")
            body = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": code, "diagnostics": body["detail"]}],
            }
        return Response(json.dumps(body), status, mimetype="application/fhir+json")
