"""OpenTelemetry traces: W3C trace context in and out of every hop, spans exported when asked.

One booking is one trace: the HTTP request (a caller's `traceparent` is its parent), the RPC
to identity, the stored event (its metadata keeps the `traceparent` in force when it was
appended), the relay's publish, every consumer, notification's sends and their retries. The
context travels even when nothing is exported, so log lines and events carry a caller's trace
id; spans are made and exported only when `OTEL_TRACES_EXPORTER` names an exporter (Carnet's
default is `none`, the specification's is `otlp`: docs/observability.md says why). Everything
else is read by the SDK from the standard `OTEL_*` variables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.instance import instance_id

# Only `traceparent` is read, kept and passed on. A caller's `tracestate` is free text (up to
# 512 characters of anything); kept, it would reach event metadata and the hash-chained
# ledger, which can never forget it. Carnet adds no state of its own.
TRACEPARENT = "traceparent"
EXPORTERS = ("none", "otlp", "console")
_PROPAGATOR = TraceContextTextMapPropagator()
_NO_OP = trace.NoOpTracer()
_tracers: dict[str, Tracer] = {}
_captured: list[SpanProcessor] = []  # tests: processors every service's provider gets


class TracingConfigError(ValueError):
    """An `OTEL_*` setting Carnet cannot honour: the service refuses to start, saying which."""


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters asked for; none when the SDK is disabled or nothing is named."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    given = environ.get("OTEL_TRACES_EXPORTER", "").split(",")
    names = [n.strip().lower() for n in given if n.strip()]  # blank: unset, as the spec says
    unknown = sorted(set(names) - set(EXPORTERS))
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={','.join(unknown)} is not one of {', '.join(EXPORTERS)}"
        )
    return [n for n in names if n != "none"]


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    """The SDK's exporter by its standard name; OTLP over HTTP/protobuf only."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout is the JSON log lines'
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol not in ("", "http/protobuf"):
        raise TracingConfigError(f"OTLP protocol {protocol!r}: Carnet exports http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_EXPORTER_OTLP_* variables


def configure(service: str, environ: Mapping[str, str] = os.environ) -> Tracer:
    """The service's tracer, made once per process: a real one only when spans go somewhere."""
    if service in _tracers:
        return _tracers[service]
    names = exporter_names(environ)
    if not names and not _captured:
        _tracers[service] = _NO_OP
        return _NO_OP
    resource = Resource.create({"service.name": service, "service.instance.id": instance_id()})
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER, as the SDK
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))
    for processor in _captured:
        provider.add_span_processor(processor)
    _tracers[service] = provider.get_tracer("carnet")
    return _tracers[service]


def tracer(service: str) -> Tracer:
    """The tracer `configure` made for this service (a no-op one before that)."""
    return _tracers.get(service, _NO_OP)


def is_recording(service: str) -> bool:
    """True when this service's spans go somewhere (an exporter, or a test's capture)."""
    return tracer(service) is not _NO_OP


def capture(processor: SpanProcessor) -> None:
    """Tests: every service configured from now on also hands its spans to `processor`."""
    _captured.append(processor)
    _tracers.clear()


def reset() -> None:
    """Tests: forget every tracer and captured processor."""
    _captured.clear()
    _tracers.clear()


def extract(carrier: Mapping[str, Any] | None) -> Context:
    """The context a `traceparent` in these headers or metadata names (its state ignored)."""
    value = carrier.get(TRACEPARENT) if carrier else None
    if not isinstance(value, str):
        return Context()
    return _PROPAGATOR.extract({TRACEPARENT: value})


def trace_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The W3C `traceparent` among a message's headers, for a worker's context data."""
    value = headers.get(TRACEPARENT)
    return {TRACEPARENT: value} if isinstance(value, str) else {}


def traceparent_of(ctx: Context | None = None) -> dict[str, str]:
    """{traceparent} of the span in force (or of `ctx`'s), {} outside any trace."""
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=ctx)
    return {TRACEPARENT: carrier[TRACEPARENT]}


def current_traceparent() -> dict[str, str]:
    """The trace context in force as {traceparent}, or {} outside any trace."""
    return traceparent_of()


def stamped(metadata: dict[str, Any]) -> dict[str, Any]:
    """An event's metadata with the trace context in force, unless it names its own."""
    if TRACEPARENT in metadata:
        return metadata
    carrier = current_traceparent()
    return {**metadata, **carrier} if carrier else metadata


def log_ids() -> dict[str, str]:
    """trace_id and span_id of the span in force, as OpenTelemetry's log data model names them."""
    return span_log_ids(trace.get_current_span())


def span_log_ids(span: Span) -> dict[str, str]:
    """trace_id and span_id of `span`, or {} for no valid span."""
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return {}
    return {"trace_id": f"{span_context.trace_id:032x}", "span_id": f"{span_context.span_id:016x}"}


def start(
    service: str,
    name: str,
    kind: SpanKind,
    parent: Context,
    attributes: Mapping[str, Any] | None = None,
    links: list[Link] | None = None,
    start_time: int | None = None,
    root: bool = False,
) -> Span:
    """A span of `service` under `parent`; when nothing is exported, the parent itself.

    Without a parent, a span is made only where a trace may begin (`root`: the HTTP edge);
    an event appended outside any trace (a timer's) starts none downstream.
    """
    found = tracer(service)
    if found is _NO_OP:
        return trace.get_current_span(parent)  # the caller's context travels on unchanged
    if not root and not trace.get_current_span(parent).get_span_context().is_valid:
        return trace.INVALID_SPAN
    return found.start_span(
        name, context=parent, kind=kind, attributes=attributes, links=links, start_time=start_time
    )


def activate(span: Span) -> object:
    """Make `span` the one in force for this greenthread; `deactivate` with the token after."""
    return otel_context.attach(trace.set_span_in_context(span))


def deactivate(token: object) -> None:
    """Undo `activate`."""
    otel_context.detach(token)  # type: ignore[arg-type]


def link_to(carrier: Mapping[str, Any] | None) -> Link | None:
    """A link to the span these headers name, for a batch that handles several messages."""
    span_context = trace.get_current_span(extract(carrier)).get_span_context()
    return Link(span_context) if span_context.is_valid else None
