"""Audit entrypoints: the tamper-evident ledger, replay and investigations (issue #6)."""

from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import Timer
from nameko.web.handlers import http

from services.audit import handlers
from services.audit.settings import DEFAULT_CHECKPOINT_SECONDS, AuditSettings, bearer_token_ok
from services.audit.signing import Signer, signer_from_config
from services.common.logging import configure_structlog, has_json_handler
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.consumer import ALL_EVENTS, consume_event
from services.common.nameko_ext.health import json_response


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

    @http("GET", "/v1/audit/verify")
    def verify(self, request):
        """The verify report; a static admin bearer token until identity issues real ones."""
        token = AuditSettings.from_config(self.config).admin_token
        if not bearer_token_ok(request.headers.get("Authorization"), token):
            return json_response(
                401, {"error": "unauthorized", "detail": "a valid admin bearer token is required"}
            )
        return json_response(200, handlers.verify_report(self.config, self.signer).to_dict())
