"""Each send attempt in the trace of the event behind it, retries included.

The sender runs on a timer, so nothing carries the booking's ids to it but the outbox row:
its `origin` keeps the triggering event's correlation id and W3C trace context. Every
attempt is a span under that context and binds that correlation id, so its log lines and the
NotificationSent/NotificationFailed it appends belong to the booking, not to a timer tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from opentelemetry.trace import Span, SpanKind, StatusCode

from services.common import tracing
from services.common.logging import bound_ids

SERVICE = "notification"


@contextmanager
def attempt_traced(
    origin: dict[str, Any], source_event_id: UUID, template: str, attempt: int
) -> Iterator[Span]:
    """A CLIENT span for one attempt (ids and template only: no address, no name)."""
    span = tracing.start(
        SERVICE,
        f"send {template}",
        SpanKind.CLIENT,
        tracing.extract(origin),
        {"carnet.notification.template": template, "carnet.notification.attempt": attempt},
    )
    token = tracing.activate(span)
    correlation_id = origin.get("correlation_id") or str(source_event_id)
    try:
        with bound_ids(correlation_id=correlation_id, causation_id=str(source_event_id)):
            yield span
    except Exception as error:
        span.set_attribute("error.type", type(error).__name__)  # its text may hold data
        span.set_status(StatusCode.ERROR)
        raise
    finally:
        span.end()
        tracing.deactivate(token)
