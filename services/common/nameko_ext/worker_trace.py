"""Each nameko worker's span: HTTP and RPC as servers, consumed events as consumers.

The parent comes from where the caller put it: an HTTP request's `traceparent` header, an
RPC's `nameko.traceparent` header (nameko turns it into worker context data), a consumed
event's AMQP header (the consumer puts it into context data). The span's own context then
goes into the worker's context data, so RPC calls it makes carry it on. A batch's worker runs
under its first event's trace; each other event gets a span in its own trace, linked to the
batch's, and its `event.handled` line names that trace, so every booking's trace shows the
consumer that handled it. What a batch handler appends takes the worker's (first event's)
context unless it names its event's own (audit's detection does). Timers get no span (one a
second per service is noise): notification's sender makes one per message it sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler
from opentelemetry.trace import Link, Span, SpanKind, StatusCode

from services.common import tracing
from services.common.nameko_ext.consumer import EventConsumer

TRACE_ENVIRON = "carnet.trace"  # the HTTP worker's trace_id and span_id, for the access line


@dataclass
class WorkerTrace:
    """What a worker's setup started and its teardown ends."""

    span: Span
    token: object
    ids: dict[Any, dict[str, str]] = field(default_factory=dict)  # event id -> its trace ids
    others: list[Span] = field(default_factory=list)  # a batch's other events' spans


def event_ids(found: WorkerTrace | None, event_id: Any) -> dict[str, str]:
    """trace_id and span_id for one event of the worker's (a batch's events differ)."""
    return found.ids.get(event_id, {}) if found is not None else {}


def _http(worker_ctx: Any, service: str) -> Span:
    entrypoint, request = worker_ctx.entrypoint, worker_ctx.args[0] if worker_ctx.args else None
    span = tracing.start(
        service,
        f"{entrypoint.method.upper()} {entrypoint.url}",
        SpanKind.SERVER,
        tracing.extract(worker_ctx.data),  # the edge put the caller's traceparent there
        {"http.request.method": entrypoint.method.upper(), "http.route": entrypoint.url},
        root=True,  # a trace may begin at the edge
    )
    if request is not None:
        request.environ[TRACE_ENVIRON] = tracing.span_log_ids(span)
    return span


def _rpc(worker_ctx: Any, service: str) -> Span:
    method = worker_ctx.entrypoint.method_name
    return tracing.start(
        service,
        f"{service}.{method}",
        SpanKind.SERVER,
        tracing.extract(worker_ctx.data),
        {"rpc.system": "nameko", "rpc.service": service, "rpc.method": method},
    )


def _process(
    service: str, event: Any, parent: Any, attributes: dict[str, Any], links: list[Link] | None
) -> Span:
    """One consumed event's span: its type in the name, its id as the message id."""
    return tracing.start(
        service,
        f"process {event.event_type}",
        SpanKind.CONSUMER,
        parent,
        {**attributes, "messaging.message.id": str(event.event_id)},
        links=links,
    )


def _consumer(worker_ctx: Any, service: str) -> WorkerTrace:
    entrypoint, arg = worker_ctx.entrypoint, worker_ctx.args[0] if worker_ctx.args else None
    events = arg if isinstance(arg, list) else [arg]
    first = events[0]
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": entrypoint.queue_name,
        "messaging.batch.message_count": len(events),
    }
    recording = tracing.is_recording(service)
    links = [k for e in events[1:] if (k := tracing.link_to(e.headers))] if recording else None
    span = _process(service, first, tracing.extract(worker_ctx.data), attributes, links)
    found = WorkerTrace(span, None, {first.event_id: tracing.span_log_ids(span)})
    batch = span.get_span_context()
    for e in events[1:]:  # each in its own trace: its log line and spans say so
        link = [Link(batch)] if batch.is_valid else None
        own = _process(service, e, tracing.extract(e.headers), attributes, link)
        if own.is_recording():
            found.others.append(own)
        found.ids[e.event_id] = tracing.span_log_ids(own)
    return found


def begin(worker_ctx: Any, service: str) -> WorkerTrace | None:
    """Start and activate the worker's span, and hand its context to calls the worker makes."""
    entrypoint = worker_ctx.entrypoint
    if isinstance(entrypoint, HttpRequestHandler):
        found = WorkerTrace(_http(worker_ctx, service), None)
    elif isinstance(entrypoint, Rpc):
        found = WorkerTrace(_rpc(worker_ctx, service), None)
    elif isinstance(entrypoint, EventConsumer) and worker_ctx.args:
        found = _consumer(worker_ctx, service)
    else:
        return None
    found.token = tracing.activate(found.span)
    worker_ctx.data.pop(tracing.TRACEPARENT, None)  # what came in is not passed on as is
    worker_ctx.data.update(tracing.current_traceparent())
    return found


def result(found: WorkerTrace | None, worker_ctx: Any, value: Any, exc_info: Any) -> None:
    """Mark the span as failed (the error's type only: its text may hold request data)."""
    if found is None or not found.span.is_recording():
        return
    status = getattr(value, "status_code", None)
    if isinstance(status, int):
        found.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            found.span.set_status(StatusCode.ERROR)
    if exc_info is not None:
        error = exc_info[1]
        found.span.set_attribute("error.type", type(error).__name__)
        if not isinstance(error, worker_ctx.entrypoint.expected_exceptions):
            found.span.set_status(StatusCode.ERROR)


def end(found: WorkerTrace | None) -> None:
    """End the worker's spans and restore the context it started with."""
    if found is None:
        return
    for span in (*found.others, found.span):
        span.end()
    tracing.deactivate(found.token)
