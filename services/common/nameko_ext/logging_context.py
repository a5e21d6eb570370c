"""Bind each worker's correlation and causation ids to its log lines, and forget them after."""

from __future__ import annotations

import uuid
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler

from services.common.logging import (
    bind_message_context,
    clear_message_context,
    configure_logging,
    configure_structlog,
    get_logger,
    has_json_handler,
)

CORRELATION_HEADER = "X-Correlation-ID"


def correlation_from_worker(worker_ctx: Any) -> tuple[str, str | None]:
    """The ids a worker runs under: from the HTTP header, the message, or a new one."""
    data = worker_ctx.data
    correlation_id = data.get("correlation_id")
    causation_id = data.get("causation_id")
    if correlation_id is None and isinstance(worker_ctx.entrypoint, HttpRequestHandler):
        request = worker_ctx.args[0] if worker_ctx.args else None
        header = request.headers.get(CORRELATION_HEADER) if request is not None else None
        if header and len(header) <= 128 and header.isprintable():
            correlation_id = header
    return correlation_id or str(uuid.uuid4()), causation_id


class LoggingContext(DependencyProvider):
    """Injects a structlog logger whose lines carry service, correlation_id and causation_id."""

    def setup(self) -> None:
        """Configure JSON logging once per process; config.yaml's LOGGING may have done stdlib."""
        service = self.container.service_name
        if has_json_handler():
            configure_structlog(service)
        else:
            configure_logging(service, self.container.config.get("LOG_LEVEL", "INFO"))

    def worker_setup(self, worker_ctx: Any) -> None:
        """Runs in the worker's own greenthread, so contextvars are that worker's alone."""
        correlation_id, causation_id = correlation_from_worker(worker_ctx)
        # Outgoing RPC calls and events made by this worker carry the same correlation id.
        worker_ctx.data["correlation_id"] = correlation_id
        bind_message_context(
            correlation_id,
            causation_id,
            service=self.container.service_name,
            entrypoint=worker_ctx.entrypoint.method_name,
        )

    def get_dependency(self, worker_ctx: Any) -> Any:
        """A logger for the service method; ids come from the worker's context."""
        return get_logger(self.container.service_name)

    def worker_teardown(self, worker_ctx: Any) -> None:
        """Clear the ids so nothing leaks into the next worker on this greenthread."""
        clear_message_context()
