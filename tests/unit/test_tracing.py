"""services/common/tracing.py: which exporters, the context stamped on events, log ids."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common import tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def fresh():
    tracing.reset()
    yield
    tracing.reset()


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, []),  # Carnet's default: nothing exported
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_TRACES_EXPORTER": ""}, []),  # blank is unset (compose's ${VAR:-})
        ({"OTEL_TRACES_EXPORTER": "otlp,"}, ["otlp"]),
    ],
)
def test_the_exporters_asked_for(environ, names):
    assert tracing.exporter_names(environ) == names


def test_an_unknown_exporter_or_grpc_is_refused_naming_it():
    with pytest.raises(tracing.TracingConfigError, match="zipkin"):
        tracing.exporter_names({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(tracing.TracingConfigError, match="grpc"):
        tracing.configure(
            "booking", {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        )


def test_without_an_exporter_the_callers_context_travels_unchanged():
    tracing.configure("booking", {})
    assert not tracing.is_recording("booking")
    span = tracing.start("booking", "x", SpanKind.SERVER, tracing.extract({"traceparent": PARENT}))
    token = tracing.activate(span)
    try:
        assert tracing.stamped({"correlation_id": "c"}) == {
            "correlation_id": "c",
            "traceparent": PARENT,
        }
        assert tracing.log_ids() == {"trace_id": PARENT[3:35], "span_id": PARENT[36:52]}
    finally:
        tracing.deactivate(token)
    assert tracing.stamped({"correlation_id": "c"}) == {"correlation_id": "c"}  # outside: none
    assert tracing.log_ids() == {}


def test_with_an_exporter_a_child_span_is_stamped_and_an_events_own_context_is_kept():
    exporter = InMemorySpanExporter()
    tracing.capture(SimpleSpanProcessor(exporter))
    tracing.configure("audit", {})
    span = tracing.start("audit", "x", SpanKind.CONSUMER, tracing.extract({"traceparent": PARENT}))
    token = tracing.activate(span)
    try:
        stamped = tracing.stamped({})["traceparent"]
        assert stamped.split("-")[1] == PARENT.split("-")[1] and stamped != PARENT
        assert tracing.stamped({"traceparent": PARENT}) == {"traceparent": PARENT}
    finally:
        tracing.deactivate(token)
        span.end()
    (done,) = exporter.get_finished_spans()
    assert done.resource.attributes["service.name"] == "audit"
    assert done.resource.attributes["service.instance.id"]


@pytest.mark.parametrize("bad", ["", "00-xyz", "ff-" + "0" * 32 + "-" + "0" * 16 + "-01", 7, None])
def test_a_malformed_or_missing_traceparent_starts_nothing(bad):
    assert tracing.log_ids() == {}
    context = tracing.extract({"traceparent": bad})
    span = tracing.start("booking", "x", SpanKind.SERVER, context)
    assert not span.get_span_context().is_valid
    assert tracing.trace_headers({"traceparent": bad}) == (
        {"traceparent": bad} if isinstance(bad, str) else {}
    )


def test_a_callers_tracestate_is_never_kept_or_passed_on():
    carrier = {"traceparent": PARENT, "tracestate": "crm=pt-1@example.org,dob=1984-02-11"}
    token = tracing.activate(
        tracing.start("booking", "x", SpanKind.SERVER, tracing.extract(carrier))
    )
    try:
        assert tracing.stamped({}) == {"traceparent": PARENT}
        assert tracing.current_traceparent() == {"traceparent": PARENT}
    finally:
        tracing.deactivate(token)
    assert tracing.trace_headers(carrier) == {"traceparent": PARENT}


def test_only_the_edge_begins_a_trace_when_exporting():
    exporter = InMemorySpanExporter()
    tracing.capture(SimpleSpanProcessor(exporter))
    tracing.configure("audit", {})
    orphan = tracing.start("audit", "process X", SpanKind.CONSUMER, tracing.extract({}))
    assert not orphan.get_span_context().is_valid  # a timer's event starts no trace
    edge = tracing.start("audit", "GET /x", SpanKind.SERVER, tracing.extract({}), root=True)
    assert edge.get_span_context().is_valid
    edge.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /x"]
