"""Every consumer queue of the four services, and the hostile messages sent to each.

The queues are those of the `@consume_event` entrypoints in services/*/service.py; the test
checks this list against the queues the running services declared, so a new consumer without
a line here fails the suite instead of going untested.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika

from contracts.registry import REGISTRY
from tests.contract.examples import EXAMPLES

PRODUCERS = ("identity", "booking", "notification", "audit")


@dataclass(frozen=True)
class Case:
    """One hostile message: how it is sent, and the dead-letter reason it must end with."""

    name: str
    reason: str


CASES = (
    Case("garbage-bytes", "malformed-json"),
    # under the size bound, but past what Python's json converts (a ValueError, a RecursionError
    # that killed the consuming container before the strict reader)
    Case("long-integer", "malformed-json"),
    Case("deep-nesting", "malformed-json"),
    Case("wrong-content-type", "wrong-content-type"),
    Case("wrong-schema", "schema-invalid"),
    Case("unknown-event-type", "unknown-event-type"),
    Case("future-schema-version", "unsupported-schema-version"),
    # app_id names another service, on the real producer's exchange
    Case("forged-app-id", "forged-producer"),
    # app_id matches the exchange, but that service does not publish this event type
    Case("forged-type-owner", "forged-producer"),
    # straight into the queue (the replay path), claiming a service that does not publish it
    Case("forged-app-id-direct", "forged-producer"),
    # a real type of the same producer, on a routing key the queue is bound to, not subscribed
    Case("unsubscribed-event-type", "unexpected-event-type"),
    # a valid event with one small field its contract does not declare, on the real exchange
    Case("undeclared-field", "undeclared-fields"),
    # a valid event padded one byte past its contract's bound, on the real exchange
    Case("oversized", "oversized"),
    # a valid event on the real exchange that its producer never recorded (the ledger only)
    Case("unrecorded", "not-recorded-by-producer"),
)


@dataclass(frozen=True)
class QueueSpec:
    """One consumer queue: what it consumes, and how to build a valid event for it."""

    service: str
    handler: str
    source: str  # the producer whose exchange the queue is bound to
    event_type: str  # the type the valid events are
    payload: Callable[[], dict[str, Any]]  # a fresh valid payload (unique ids each call)
    unsubscribed: str | None = None  # same producer, not consumed here (None: queue takes all)
    idempotent_by_nature: bool = False  # no inbox: running twice is the same as once
    recorded: bool = False  # takes only events their producer recorded (the ledger): valid
    # events are appended to the producer's store and sent as its relay sends them
    own_queue: str | None = None  # a broadcast's queue of this process (HostileWorld.resolve)

    @property
    def queue(self) -> str:
        return f"carnet.q.{self.service}.{self.handler}"

    @property
    def delivery_queue(self) -> str:
        """Where a message sent straight to the consumer goes (a broadcast's own queue)."""
        return self.own_queue or self.queue

    @property
    def dlq(self) -> str:
        return f"carnet.dlq.{self.service}.{self.handler}"

    @property
    def id(self) -> str:
        return f"{self.service}.{self.handler}"


def example(event_type: str, **overrides: Any) -> dict[str, Any]:
    """The contract example in JSON form, with fields replaced (fresh ids)."""
    return REGISTRY.dump_payload(event_type, {**EXAMPLES[event_type], **overrides})


def fresh(event_type: str, *id_fields: str) -> Callable[[], dict[str, Any]]:
    """A payload factory giving each named id field a new UUID on every call."""
    return lambda: example(event_type, **{f: str(uuid.uuid4()) for f in id_fields})


def foreign_type(source: str) -> str:
    """A real event type published by another service than `source`."""
    return "PatientRegistered" if source != "identity" else "AppointmentBooked"


def other_producer(event_type: str) -> str:
    """A service that does not publish `event_type`."""
    owner = REGISTRY.contract(event_type).producer
    return next(p for p in PRODUCERS if p != owner)


def routing_key(event_type: str) -> str:
    return REGISTRY.contract(event_type).routing_key


@dataclass
class Outgoing:
    """A message as pika will send it, and the id it is known by."""

    exchange: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties

    @property
    def message_id(self) -> str:
        return str(self.properties.message_id)


def message(
    spec: QueueSpec,
    payload: dict[str, Any],
    *,
    event_type: str | None = None,
    app_id: str | None = None,
    version: int | None = None,
    content_type: str = "application/json",
    body: bytes | None = None,
    direct: bool = False,
    message_id: str | None = None,
) -> Outgoing:
    """A relay-shaped message (properties, headers) for `spec`, with one thing changed."""
    kind = event_type or spec.event_type
    latest = REGISTRY.latest_version(kind) if kind in REGISTRY.event_types() else 1
    headers = {
        "schema_version": version or latest,
        "stream": f"hostile-{uuid.uuid4()}",
        "stream_version": 1,
        "position": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    props = pika.BasicProperties(
        content_type=content_type,
        delivery_mode=2,
        message_id=message_id or str(uuid.uuid4()),
        type=kind,
        app_id=app_id or spec.source,
        correlation_id=f"corr-hostile-{uuid.uuid4().hex[:8]}",
        headers=headers,
    )
    exchange, key = ("", spec.delivery_queue) if direct else (f"{spec.source}.events", "")
    if not direct:
        key = routing_key(spec.event_type)  # a key the queue is bound to
    raw = body if body is not None else json.dumps(payload).encode()
    return Outgoing(exchange, key, raw, props)


def hostile(spec: QueueSpec, case: Case, valid: dict[str, Any]) -> Outgoing | None:
    """The message for `case` against `spec` (built around the valid payload `valid`).

    None when the case cannot apply: a queue that takes every type has no unsubscribed one.
    """
    t = spec.event_type
    if case.name == "garbage-bytes":
        return message(spec, valid, body=b"\x00\xff\xfe{not json", direct=True)
    if case.name in ("long-integer", "deep-nesting"):
        raw = "9" * 5000 if case.name == "long-integer" else "[" * 5000 + "]" * 5000
        return message(
            spec, valid, body=json.dumps(valid)[:-1].encode() + f', "n": {raw}}}'.encode()
        )
    if case.name == "wrong-content-type":
        return message(spec, valid, content_type="text/plain", direct=True)
    if case.name == "wrong-schema":
        return message(spec, {"surprise": True, "appointment_id": 42}, direct=True)
    if case.name == "unknown-event-type":
        return message(spec, valid, event_type="AppointmentTeleported", direct=True)
    if case.name == "future-schema-version":
        return message(spec, valid, version=REGISTRY.latest_version(t) + 1, direct=True)
    if case.name == "forged-app-id":
        return message(spec, valid, app_id=other_producer(t))
    if case.name == "forged-type-owner":
        impostor = foreign_type(spec.source)
        return message(spec, example(impostor), event_type=impostor, app_id=spec.source)
    if case.name == "forged-app-id-direct":
        return message(spec, valid, app_id=other_producer(t), direct=True)
    if case.name == "undeclared-field":
        return message(spec, {**valid, "surprise": "x"})
    if case.name == "oversized":
        padded = {**valid, "pad": ""}
        room = REGISTRY.contract(t).max_bytes - len(json.dumps(padded).encode())
        return message(spec, {**valid, "pad": "x" * (room + 1)})
    if case.name == "unrecorded":
        return message(spec, valid) if spec.recorded else None
    if case.name == "unsubscribed-event-type":
        if spec.unsubscribed is None:
            return None
        u = spec.unsubscribed
        return message(spec, example(u), event_type=u)
    raise AssertionError(f"no builder for {case.name}")


def _access() -> dict[str, Any]:
    return example(
        "AppointmentsAccessed",
        access_id=str(uuid.uuid4()),
        principal_id=str(uuid.uuid4()),
        connector_id=None,
        principal_kind="practitioner",
    )


SPECS: tuple[QueueSpec, ...] = (
    # identity: audit's findings suspend a connector (the world names a registered one)
    QueueSpec(
        "identity",
        "on_suspicious_access",
        "audit",
        "SuspiciousAccessDetected",
        fresh("SuspiciousAccessDetected", "detection_id"),
        unsubscribed="IncidentOpened",
    ),
    # booking: the directory (names), read quotas and the principal cache
    QueueSpec(
        "booking",
        "on_directory_event",
        "identity",
        "PatientRegistered",
        fresh("PatientRegistered", "patient_id"),
        unsubscribed="ConnectorRegistered",
    ),
    QueueSpec(
        "booking",
        "on_quota_set",
        "identity",
        "QuotaSet",
        fresh("QuotaSet", "principal_id"),
        unsubscribed="TokenIssued",
    ),
    QueueSpec(
        "booking",
        "on_access_revoked",
        "identity",
        "ConnectorSuspended",
        fresh("ConnectorSuspended", "connector_id"),
        unsubscribed="TokenIssued",
        idempotent_by_nature=True,
    ),
    QueueSpec(
        "audit",
        "on_access_revoked",
        "identity",
        "ConnectorSuspended",
        fresh("ConnectorSuspended", "connector_id"),
        unsubscribed="TokenIssued",
        idempotent_by_nature=True,
    ),
    # notification: contacts, names, appointment notices, breach notices
    QueueSpec(
        "notification",
        "on_patient_registered",
        "identity",
        "PatientRegistered",
        fresh("PatientRegistered", "patient_id"),
        unsubscribed="StaffRegistered",
    ),
    QueueSpec(
        "notification",
        "on_practitioner_registered",
        "identity",
        "PractitionerRegistered",
        fresh("PractitionerRegistered", "practitioner_id"),
        unsubscribed="StaffRegistered",
    ),
    QueueSpec(
        "notification",
        "on_appointment_event",
        "booking",
        "AppointmentBooked",
        fresh("AppointmentBooked", "appointment_id", "patient_id"),
        unsubscribed="SlotsOpened",
    ),
    QueueSpec(
        "notification",
        "on_breach_notification_requested",
        "audit",
        "BreachNotificationRequested",
        fresh("BreachNotificationRequested", "request_id", "incident_id", "patient_id"),
        unsubscribed="IncidentOpened",
    ),
    # audit: the ledger (every event of every service) and continuous detection
    QueueSpec(
        "audit",
        "ledger_identity",
        "identity",
        "StaffRegistered",
        fresh("StaffRegistered"),
        recorded=True,
    ),
    QueueSpec(
        "audit", "ledger_booking", "booking", "SlotsOpened", fresh("SlotsOpened"), recorded=True
    ),
    QueueSpec(
        "audit",
        "ledger_notification",
        "notification",
        "NotificationSent",
        fresh("NotificationSent", "notification_id", "source_event_id"),
        recorded=True,
    ),
    QueueSpec(
        "audit", "ledger_audit", "audit", "IncidentOpened", fresh("IncidentOpened"), recorded=True
    ),
    QueueSpec(
        "audit",
        "detect_accesses",
        "booking",
        "AppointmentsAccessed",
        _access,
        unsubscribed="SlotsOpened",
    ),
    QueueSpec(
        "audit",
        "detect_refusals",
        "audit",
        "AuditAccessRefused",
        fresh("AuditAccessRefused", "access_id", "principal_id"),
        unsubscribed="IncidentOpened",
    ),
    QueueSpec(
        "audit",
        "detect_grants",
        "identity",
        "ConnectorAuthorized",
        fresh("ConnectorAuthorized", "grant_id", "connector_id", "practitioner_id"),
        unsubscribed="StaffRegistered",
    ),
    QueueSpec(
        "audit",
        "detect_sign_ins",
        "identity",
        "AuthenticationFailed",
        fresh("AuthenticationFailed", "attempt_id", "connector_id"),
        unsubscribed="StaffRegistered",
    ),
)
