"""Bind each worker's correlation ids and trace to its log lines, and forget them after."""

from __future__ import annotations

import time
import uuid
from typing import Any
from weakref import WeakKeyDictionary

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler

from services.common.logging import (
    INSTANCE,
    bind_message_context,
    clear_message_context,
    configure_logging,
    configure_structlog,
    get_logger,
    has_json_handler,
    quiet_expected_errors,
)
from services.common.metrics import INSTANCE_INFO
from services.common.nameko_ext import worker_trace
from services.common.nameko_ext.consumer import EventConsumer
from services.common.tracing import configure as configure_tracing

CORRELATION_HEADER = "X-Correlation-ID"
MAX_CORRELATION_ID = 128

edge_log = get_logger("carnet.edge")


def valid_correlation_id(value: str | None) -> str | None:
    """A caller's correlation id we accept (short, printable), or None to make a new one."""
    if value and len(value) <= MAX_CORRELATION_ID and value.isprintable():
        return value
    return None


def correlation_from_worker(worker_ctx: Any) -> tuple[str, str | None]:
    """The ids a worker runs under: from the message, the HTTP header, or a new one."""
    data = worker_ctx.data
    correlation_id = data.get("correlation_id")
    causation_id = data.get("causation_id")
    if correlation_id is None and isinstance(worker_ctx.entrypoint, HttpRequestHandler):
        # Services behind the shared HTTP edge (http_metrics.py) get the id as context data;
        # this covers a bare nameko web server.
        request = worker_ctx.args[0] if worker_ctx.args else None
        header = request.headers.get(CORRELATION_HEADER) if request is not None else None
        correlation_id = valid_correlation_id(header)
    return correlation_id or str(uuid.uuid4()), causation_id


def _event_fields(event: Any) -> dict[str, Any]:
    """What names a consumed event in its line (nothing for a body that is not one)."""
    if hasattr(event, "event_type") and hasattr(event, "event_id"):
        return {"event_type": event.event_type, "event_id": str(event.event_id)}
    return {}


def _handled_lines(
    worker_ctx: Any, found: worker_trace.WorkerTrace | None
) -> list[tuple[str, dict[str, Any]]]:
    """The lines an RPC or consumed events end with: one per event, a batch's included."""
    entrypoint = worker_ctx.entrypoint
    if isinstance(entrypoint, Rpc):
        return [("rpc.handled", {})]
    if isinstance(entrypoint, (EventConsumer, EventHandler)):
        arg = worker_ctx.args[0] if worker_ctx.args else None
        if not isinstance(arg, list):
            return [("event.handled", _event_fields(arg))]
        # A batch (@consume_batch) runs under its first event's ids: each line names its own.
        return [
            (
                "event.handled",
                {
                    **_event_fields(event),
                    "correlation_id": getattr(event, "correlation_id", None),
                    "causation_id": str(getattr(event, "event_id", "")),
                    "batch_size": len(arg),
                    **worker_trace.event_ids(found, getattr(event, "event_id", None)),
                },
            )
            for event in arg
        ]
    return []  # HTTP has its access line at the edge; timers would only add noise


class LoggingContext(DependencyProvider):
    """Injects a structlog logger whose lines carry the service, correlation ids and trace.

    Every RPC and every consumed event also ends with one line (`rpc.handled`,
    `event.handled`: entrypoint, outcome, duration), so a request can be followed through
    services whose own code logs nothing on the way (`carnet logs trace`). Each worker also
    runs in its span (worker_trace.py), so its lines carry `trace_id` and `span_id`.
    """

    def setup(self) -> None:
        """Configure JSON logging once per process; config.yaml's LOGGING may have done stdlib."""
        service = self.container.service_name
        if has_json_handler():
            configure_structlog(service)
        else:
            configure_logging(service, self.container.config.get("LOG_LEVEL", "INFO"))
        quiet_expected_errors()
        configure_tracing(service)  # refuses to start on an OTEL_* setting it cannot honour
        INSTANCE_INFO.labels(service, INSTANCE).set(1)  # which replica a scrape came from
        # Weak: nameko skips result and teardown when another provider's setup raises.
        self._started: WeakKeyDictionary[Any, float] = WeakKeyDictionary()
        self._traces: WeakKeyDictionary[Any, worker_trace.WorkerTrace | None] = WeakKeyDictionary()

    def worker_setup(self, worker_ctx: Any) -> None:
        """Runs in the worker's own greenthread, so contextvars are that worker's alone."""
        correlation_id, causation_id = correlation_from_worker(worker_ctx)
        # Outgoing RPC calls and events made by this worker carry the same correlation id.
        worker_ctx.data["correlation_id"] = correlation_id
        bind_message_context(
            correlation_id,
            causation_id,
            entrypoint=worker_ctx.entrypoint.method_name,
            **{"service.name": self.container.service_name},
        )
        self._traces[worker_ctx] = worker_trace.begin(worker_ctx, self.container.service_name)
        self._started[worker_ctx] = time.perf_counter()

    def get_dependency(self, worker_ctx: Any) -> Any:
        """A logger for the service method; ids come from the worker's context."""
        return get_logger(self.container.service_name)

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        """One line per RPC or consumed event, while the worker's ids are still bound."""
        worker_trace.result(self._traces.get(worker_ctx), worker_ctx, result, exc_info)
        started = self._started.pop(worker_ctx, None)
        if started is None:
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        for event, fields in _handled_lines(worker_ctx, self._traces.get(worker_ctx)):
            fields["duration_ms"] = duration_ms
            if exc_info is None:
                edge_log.info(event, outcome="ok", **fields)
                continue
            error = exc_info[1]
            expected = isinstance(error, worker_ctx.entrypoint.expected_exceptions)
            (edge_log.info if expected else edge_log.warning)(
                event,
                outcome="expected-error" if expected else "failed",
                error_type=type(error).__name__,
                **fields,
            )

    def worker_teardown(self, worker_ctx: Any) -> None:
        """Clear the ids so nothing leaks into the next worker on this greenthread."""
        self._started.pop(worker_ctx, None)
        worker_trace.end(self._traces.pop(worker_ctx, None))
        clear_message_context()
