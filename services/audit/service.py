"""Audit entrypoints: the tamper-evident ledger, replay and investigations (issue #6)."""

from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import Timer
from nameko.web.handlers import http

from services.audit import access_index, handlers
from services.audit.detection import engine as detection
from services.audit.routes import API, AuditSite, Ctx, verify_with
from services.audit.settings import (
    DEFAULT_CHECKPOINT_SECONDS,
    DEFAULT_TAIL_VERIFY_SECONDS,
    AuditSettings,
)
from services.audit.signing import Signer, signer_from_config
from services.common.logging import configure_structlog, has_json_handler
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.batch_consumer import consume_batch
from services.common.nameko_ext.broadcast import consume_broadcast
from services.common.nameko_ext.consumer import ALL_EVENTS
from services.common.nameko_ext.http_api import HttpApi
from services.common.nameko_ext.identity_auth import IdentityAuth
from services.common.principals import INVALIDATING_EVENTS


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


class AuditService(CarnetService):
    """Keeps every event of every service in a hash-chained ledger."""

    name = "audit"
    api = HttpApi(API)
    auth = IdentityAuth("AUDIT")
    signer = LedgerSigner()

    def site(self) -> AuditSite:
        """What the HTTP edge needs of audit for one request."""
        wait = AuditSettings.from_config(self.config).report_wait_seconds
        ctx = Ctx(self.db, self.store, verify_with(self.config, self.signer), wait)
        return AuditSite(ctx, self.auth)

    @consume_batch("identity", ALL_EVENTS)
    def ledger_identity(self, events):
        """Every identity event, once."""
        handlers.record(self.db, events)

    @consume_batch("booking", ALL_EVENTS)
    def ledger_booking(self, events):
        """Every booking event (accesses included), once."""
        handlers.record(self.db, events)

    @consume_batch("notification", ALL_EVENTS)
    def ledger_notification(self, events):
        """Every notification event, once."""
        handlers.record(self.db, events)

    @consume_batch("audit", ALL_EVENTS)
    def ledger_audit(self, events):
        """Audit's own events too, its checkpoints included."""
        handlers.record(self.db, events)

    @ConfiguredTimer.decorator("LEDGER_CHECKPOINT_SECONDS", DEFAULT_CHECKPOINT_SECONDS)
    def checkpoint(self):
        """Sign a tree head when the ledger grew; one replica at a time (try-lock)."""
        handlers.checkpoint_now(self.db, self.store, self.signer)

    @ConfiguredTimer.decorator("AUDIT_TAIL_VERIFY_SECONDS", DEFAULT_TAIL_VERIFY_SECONDS)
    def verify_tail(self):
        """Check the ledger since the newest signed head: carnet_audit_ledger_verify_ok."""
        handlers.verify_tail_now(self.db, self.config, self.signer)

    @http("GET", "/v1/audit/verify")
    def verify(self, request):
        """The full verify report (recomputes the chain, checks every store)."""
        return self.api.serve(request)

    @ConfiguredTimer.decorator(
        "AUDIT_INDEX_INTERVAL_SECONDS", access_index.DEFAULT_INTERVAL_SECONDS
    )
    def index_accesses(self):
        """Keep the access index just behind the ledger; a replica skips while another works."""
        access_index.tick(self.db)

    @http("GET", "/v1/audit/appointments/<string:appointment_id>/history")
    def appointment_history(self, request, appointment_id):
        """Every change and every access of one appointment, in ledger order."""
        return self.api.serve(request, appointment_id=appointment_id)

    @http("GET", "/v1/audit/appointments/<string:appointment_id>/state")
    def appointment_state(self, request, appointment_id):
        """The appointment's administrative state as of ?as_of= (default now)."""
        return self.api.serve(request, appointment_id=appointment_id)

    @http("GET", "/v1/audit/accesses")
    def access_records(self, request):
        """Access records of one principal, connector or patient, in a window."""
        return self.api.serve(request)

    # -- continuous detection (docs/detection.md): one queue per handler ----------------------
    # Booking's access records and appointment changes share a queue: in booking's log order,
    # a change arrives before the reads that saw it ("changed since last read", D1).
    @consume_batch("booking", ("AppointmentsAccessed", *detection.CHANGES))
    def detect_accesses(self, events):
        """Reads, refusals and appointment changes: state, rules and detections, once per event."""
        detection.handle_all(self.db, self.store, self.config, events)

    @consume_batch("audit", detection.AUDIT_REFUSALS)
    def detect_refusals(self, events):
        """Refused tokens and roles at audit's own API (D5, D6, D7), once per event."""
        detection.handle_all(self.db, self.store, self.config, events)

    @consume_batch("identity", ("TokenIssued", "AuthenticationFailed"))
    def detect_sign_ins(self, events):
        """Addresses credentials came from (D8, D9) and failed sign-ins (D5, D6)."""
        detection.handle_all(self.db, self.store, self.config, events)

    @consume_batch("identity", detection.IDENTITY_FACTS)
    def detect_grants(self, events):
        """Grants (a connector's reach), vendors (links) and operators' trust (review only)."""
        detection.handle_all(self.db, self.store, self.config, events)

    @consume_broadcast("identity", INVALIDATING_EVENTS)
    def on_access_revoked(self, event):
        """Suspension, revoked grant, rotated secret: every replica forgets cached principals."""
        self.auth.forget_on(event, "audit.on_access_revoked")

    # -- incidents (docs/audit.md "Incidents"): investigators open, report, notify -------------
    @http("POST", "/v1/audit/incidents")
    def open_incident(self, request):
        """Open an incident over a set of subjects and a window; 201 with the report."""
        return self.api.serve(request)

    @http("GET", "/v1/audit/incidents/<string:incident_id>")
    def incident_report(self, request, incident_id):
        """The incident's report as JSON, recomputed from the ledger."""
        return self.api.serve(request, incident_id=incident_id)

    @http("GET", "/v1/audit/incidents/<string:incident_id>/report.md")
    def incident_markdown(self, request, incident_id):
        """The same report for people (Markdown)."""
        return self.api.serve(request, incident_id=incident_id)

    @http("GET", "/v1/audit/incidents/<string:incident_id>/patients.csv")
    def incident_patients(self, request, incident_id):
        """The affected patients as CSV (ids, counts, classes, exposure period)."""
        return self.api.serve(request, incident_id=incident_id)

    @http("POST", "/v1/audit/incidents/<string:incident_id>/notify")
    def incident_notify(self, request, incident_id):
        """The investigator confirms: one Art. 34 notice request per affected patient, once."""
        return self.api.serve(request, incident_id=incident_id)

    @http("POST", "/v1/audit/incidents/<string:incident_id>/regulator-notice")
    def incident_regulator_notice(self, request, incident_id):
        """Record that the Art. 33 notice is ready, against the 72-hour deadline."""
        return self.api.serve(request, incident_id=incident_id)

    @http("GET", "/fhir/AuditEvent")
    def audit_events(self, request):
        """Access records as FHIR R4 AuditEvents (IHE BALP), for investigators' FHIR tools."""
        return self.api.serve(request)
