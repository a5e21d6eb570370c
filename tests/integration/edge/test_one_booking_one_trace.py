"""One booking is one OpenTelemetry trace through the four services, a retried e-mail included.

The four services run in-process (tests/support/stack.py) with the SDK's in-memory exporter.
The caller sends a W3C `traceparent`; the first e-mail attempt meets a 451, the second is
accepted. Every span of the trace must hang from the caller's span or another span of it, and
the trace must hold: booking's request, identity's token check (RPC), the relay's publish,
audit's and notification's consumers, both send attempts, and audit consuming the outcome.
Log lines carry trace_id/span_id/service.name; the outcome events keep the booking's
correlation id (before, each retry started its own).
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.common import tracing
from services.common.logging import configure_logging
from tests.support.fhir_bodies import appointment
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN, Stack

pytestmark = pytest.mark.slow
TRACE_ID = secrets.token_hex(16)
CALLER_SPAN = secrets.token_hex(8)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.reset()
    tracing.capture(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.reset()


@pytest.fixture
def logs() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    return stream


@pytest.fixture
def stack(fresh_migrated_database_url, fresh_broker, smtp_server, spans, logs, tmp_path):
    config = {
        "booking": {"BOOKING_PRINCIPAL_TTL_SECONDS": 0},  # the token check is always an RPC
        "notification": {
            **smtp_server.config,
            "SMTP_TIMEOUT": 2,
            "SMS_OUTBOX_PATH": str(tmp_path / "sms.jsonl"),
            "NOTIFICATION_BACKOFF_SECONDS": 2,  # time to see the first attempt fail
        },
    }
    services = ["identity", "booking", "notification", "audit"]
    s = Stack(fresh_migrated_database_url, fresh_broker, services, config).start()
    yield s
    s.close()


def _book(stack: Stack) -> tuple[str, str]:
    """A patient books a slot, sending our traceparent: (appointment id, correlation id)."""
    practitioner, patient = stack.identity.practitioner(), stack.identity.patient()

    def known() -> bool:
        with stack.pool.connection() as conn:
            return conn.execute(
                "SELECT (SELECT count(*) FROM booking.patients WHERE patient_id = %s)"
                " + (SELECT count(*) FROM booking.practitioners WHERE practitioner_id = %s)"
                " + (SELECT count(*) FROM notification.contacts WHERE patient_id = %s)",
                (patient, practitioner, patient),
            ).fetchone()[0] == 3  # fmt: skip

    eventually(known, what="the patient and practitioner known to booking and notification")
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    opened = stack.request(
        "booking", "POST", f"/v1/practitioners/{practitioner}/slots", ADMIN_TOKEN,
        json={"service_type": "consultation", "start": start.isoformat(),
              "end": (start + timedelta(minutes=20)).isoformat(), "duration_minutes": 20},
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    slot = opened.json()["slots"][0]["slot_id"]
    body = appointment(slot, patient, status="proposed", start=..., end=...)
    token = stack.identity.person_token(patient)
    headers = {
        "Content-Type": "application/fhir+json",
        "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01",
    }
    r = stack.request("booking", "POST", "/fhir/Appointment", token, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.headers["X-Correlation-ID"]


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def _ours(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE_ID]


def test_one_booking_is_one_trace_through_the_four_services(stack, smtp_server, spans, logs):
    smtp_server.set_mode("tempfail")
    _, correlation_id = _book(stack)
    eventually(
        lambda: any(s.name.startswith("send ") for s in _ours(spans)), what="a first attempt"
    )
    smtp_server.set_mode("accept")
    smtp_server.wait_for_messages(1, timeout=30)

    def complete() -> list[ReadableSpan] | None:
        found = _ours(spans)
        consumed = {(_service(s), s.name) for s in found if s.kind == SpanKind.CONSUMER}
        return found if ("audit", "process NotificationSent") in consumed else None

    trace = eventually(complete, timeout=30, what="audit consuming NotificationSent")
    ids = {s.context.span_id for s in trace} | {int(CALLER_SPAN, 16)}
    orphans = [s.name for s in trace if s.parent is None or s.parent.span_id not in ids]
    assert orphans == [], "every span hangs from the caller's or another span of the trace"
    kinds = {(_service(s), s.kind, s.name.split(" ")[0]) for s in trace}
    assert ("booking", SpanKind.SERVER, "POST") in kinds  # the request
    assert ("identity", SpanKind.SERVER, "identity.authenticate") in kinds  # its token check
    assert ("booking", SpanKind.PRODUCER, "publish") in kinds  # the relay
    assert ("audit", SpanKind.CONSUMER, "process") in kinds
    assert ("notification", SpanKind.CONSUMER, "process") in kinds
    assert ("notification", SpanKind.PRODUCER, "publish") in kinds  # the outcome events
    (request,) = [s for s in trace if s.kind == SpanKind.SERVER and _service(s) == "booking"]
    assert request.parent.span_id == int(CALLER_SPAN, 16) and request.parent.is_remote
    assert request.attributes["http.response.status_code"] == 201
    sends = sorted((s for s in trace if s.name.startswith("send ")), key=lambda s: s.start_time)
    statuses = [s.status.status_code for s in sends]
    assert len(sends) >= 2 and set(statuses[:-1]) == {StatusCode.ERROR}
    assert statuses[-1] != StatusCode.ERROR
    assert {s.parent.span_id for s in sends} <= ids  # both attempts under the consumed event

    with psycopg.connect(stack.database_url) as conn:
        outcomes = conn.execute(
            "SELECT event_type, metadata FROM notification.events"
            " WHERE event_type IN ('NotificationFailed', 'NotificationSent') ORDER BY position"
        ).fetchall()
    kinds_of = [t for t, _ in outcomes]
    assert kinds_of == ["NotificationFailed"] * (len(sends) - 1) + ["NotificationSent"]
    for _, metadata in outcomes:
        assert metadata["correlation_id"] == correlation_id  # a retry keeps the booking's id
        assert metadata["traceparent"].split("-")[1] == TRACE_ID

    lines = [json.loads(x) for x in logs.getvalue().splitlines() if TRACE_ID in x]
    assert {x["service.name"] for x in lines} >= {"booking", "identity", "audit", "notification"}
    assert all(x["trace_id"] == TRACE_ID and len(x["span_id"]) == 16 for x in lines)
    assert all(x["service.instance.id"] for x in lines)
