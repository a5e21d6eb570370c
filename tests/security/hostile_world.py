"""The four real services in-process on one vhost and database, a publisher, and probes.

Each probe counts the effect one event had on the consumer's own state, so a message applied
twice (or applied at all, when it should have been refused) shows up as a number.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from typing import Any
from uuid import UUID

import psycopg

from services.common.config import SERVICES
from services.common.eventstore.store import EventStore
from services.common.json_input import BadJson, parse_json
from services.common.nameko_ext.broadcast import BroadcastConsumer
from services.common.relay.messages import to_message
from tests.security.hostile_cases import Outgoing, QueueSpec, routing_key
from tests.support.amqp import connect, drain_until_ids
from tests.support.events import new_event
from tests.support.poll import eventually
from tests.support.processes import listed_queues, wait_for_queue
from tests.support.stack import Stack

ADMIN_TOKEN = "test-admin-token-hostile-0123456789"


class HostileWorld:
    """Identity, booking, notification and audit as they run in production, minus HTTP edge."""

    def __init__(self, database_url: str, amqp_uri: str, logs: io.StringIO) -> None:
        self.database_url, self.amqp_uri, self.logs = database_url, amqp_uri, logs
        config = {
            # Nothing listens on SMTP: sends fail, which is not tested here.
            "notification": {"NOTIFICATION_MAX_ATTEMPTS": 1},
            "audit": {
                "AUDIT_SIGNING_KEY_ID": "hostile-test",
                "LEDGER_CHECKPOINT_SECONDS": 3600,
                "AUDIT_VERIFY_DATABASE_URL": database_url,
            },
        }
        self.stack = Stack(database_url, amqp_uri, SERVICES, config, ADMIN_TOKEN)
        self.payloads: dict[str, dict[str, Any]] = {}  # message id -> payload sent

    def start(self, specs: tuple[QueueSpec, ...]) -> HostileWorld:
        self.stack.start()
        for spec in specs:
            own = self.resolve(spec).own_queue
            if own is None:
                wait_for_queue(self.amqp_uri, spec.queue)
            else:  # exclusive to its consumer: seen through the management API only
                eventually(lambda q=own: q in listed_queues(self.amqp_uri, q), 60, own)
            wait_for_queue(self.amqp_uri, spec.dlq)
        return self

    def resolve(self, spec: QueueSpec) -> QueueSpec:
        """The spec with its broadcast queue's name in this process, if it is a broadcast."""
        for container in self.stack.runners[spec.service].containers:
            for entrypoint in container.entrypoints:
                if isinstance(entrypoint, BroadcastConsumer) and (
                    entrypoint.method_name == spec.handler
                ):
                    return replace(spec, own_queue=entrypoint.queue.name)
        return spec

    def close(self) -> None:
        self.stack.close()

    def alive(self) -> bool:
        """No container died (a crash in a consumer would kill it)."""
        return self.stack.alive()

    # -- set-up through the real interface -------------------------------------------------
    def connector(self) -> str:
        """A connector registered through identity's HTTP API (so suspending it means something)."""
        body = {"name": "Hostile", "vendor": "Test", "contact_email": "ops@example.org"}
        return str(self.stack.identity.admin_post("/v1/connectors", body, (201,))["connector_id"])

    def payload(self, spec: QueueSpec, connector: str | None = None) -> dict[str, Any]:
        """A fresh valid payload for the queue; identity's findings name a real connector and
        recommend its suspension, so each one applied leaves one ConnectorSuspended."""
        data = spec.payload()
        if spec.service == "identity":
            cid = connector or self.connector()
            data = {**data, "principal_id": cid, "principal_kind": "connector",
                    "connector_id": cid, "rule": "D1_volume", "recommended_action": "suspend",
                    "linked_principal_ids": []}  # fmt: skip
        return data

    def recorded(self, spec: QueueSpec, payload: dict[str, Any]) -> Outgoing:
        """The event appended to its producer's store, as the producer's relay sends it."""
        store = EventStore(lambda: psycopg.connect(self.database_url), spec.source)
        stream = f"hostile-{uuid.uuid4()}"
        store.append(stream, [new_event(spec.event_type, **payload)], expected_version=0)
        event = store.read_stream(stream)[0]
        m = to_message(event, spec.source, routing_key(spec.event_type))
        return Outgoing(m.exchange, m.routing_key, m.body, m.properties)

    # -- the bus ----------------------------------------------------------------------------
    def publish(self, messages: list[Outgoing]) -> None:
        """Publish in order on one channel, each confirmed by the broker."""
        with connect(self.amqp_uri) as conn:
            channel = conn.channel()
            channel.confirm_delivery()
            for m in messages:
                try:
                    self.payloads[m.message_id] = parse_json(m.body)
                except BadJson:  # what no consumer may decode either
                    self.payloads[m.message_id] = {}
                channel.basic_publish(m.exchange, m.routing_key, m.body, m.properties)

    def dead_letters(self, spec: QueueSpec, ids: set[str], timeout: float = 45.0) -> dict:
        """The queue's dead letters by message id (drained), once every id in `ids` arrived."""
        got = drain_until_ids(self.amqp_uri, spec.dlq, ids, timeout=timeout)
        return {p.message_id: p for p, _body in got}

    def limit_backstop_depth(self) -> int:
        """Messages the broker dead-lettered on the delivery limit (the consumer never decided)."""
        with connect(self.amqp_uri) as conn:
            declared = conn.channel().queue_declare("carnet.dlq.delivery-limit", passive=True)
            return declared.method.message_count

    # -- effects ----------------------------------------------------------------------------
    def _count(self, query: str, *args: Any) -> int:
        with psycopg.connect(self.database_url) as conn:
            return int(conn.execute(query, args).fetchone()[0] or 0)

    def _processed(self, consumer: str, event_id: str) -> int:
        schema = consumer.split(".")[0]
        return self._count(
            f"SELECT count(*) FROM {schema}.processed_events WHERE consumer = %s AND event_id = %s",
            consumer,
            UUID(event_id),
        )

    def effect(self, spec: QueueSpec, event_id: str) -> int:
        """How many times event `event_id` changed the state `spec`'s handler keeps."""
        data = self.payloads.get(event_id, {})
        if spec.id == "identity.on_suspicious_access":
            return self._count(
                "SELECT count(*) FROM identity.events WHERE event_type = 'ConnectorSuspended'"
                " AND metadata->>'causation_id' = %s",
                event_id,
            )
        if spec.handler == "on_access_revoked":  # a cache: its trace is the log line
            return sum(
                1
                for line in self.logs.getvalue().splitlines()
                if event_id in line
                and json.loads(line).get("event") == "principals.dropped"
                and json.loads(line).get("causation_id") == event_id
                and json.loads(line).get("consumer") == spec.id
            )
        if spec.id in (
            "notification.on_appointment_event",
            "notification.on_breach_notification_requested",
        ):
            return self._count(
                "SELECT count(*) FROM notification.outbox WHERE source_event_id = %s",
                UUID(event_id),
            )
        if spec.handler.startswith("ledger_"):
            return self._count(
                "SELECT count(*) FROM audit.ledger WHERE event_id = %s", UUID(event_id)
            )
        if spec.id in ("audit.detect_accesses", "audit.detect_refusals"):
            return self._subject_sum("accesses", data.get("principal_id"))
        if spec.id == "audit.detect_sign_ins":
            return self._subject_sum("auth_failures", data.get("connector_id"))
        if spec.id == "audit.detect_grants":
            return self._processed("audit.detection", event_id)
        return self._processed(spec.id, event_id)

    def _subject_sum(self, column: str, subject: Any) -> int:
        """A detection counter of the event's own (fresh) subject: 2 if counted twice."""
        try:
            subject_id = UUID(str(subject))
        except ValueError:
            return 0
        return self._count(
            f"SELECT coalesce(sum({column}), 0) FROM audit.detection_buckets WHERE subject = %s",
            str(subject_id),
        )
