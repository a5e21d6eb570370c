"""Producers for audit tests: real stores of all four services, their relays, a signing key."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import args_row
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.audit import ledger, sequencer
from services.audit.signing import Signer, new_seed, signer_from_config
from services.common.config import AUDITOR, service_database_url
from services.common.consumed import ConsumedEvent, decode
from services.common.eventstore.models import NewEvent, RecordedEvent
from services.common.eventstore.store import EventStore
from services.common.relay.messages import to_message
from services.common.relay.routing import routing_key_for
from tests.contract.examples import EXAMPLES
from tests.support.relays import RelayThreads
from tests.support.stack import Stack

SOURCES = ("identity", "booking", "notification", "audit")
KEY_ID = "audit-test-1"
# Example event types per producer, LedgerCheckpointed left to the audit service itself.
TYPES = {
    s: [
        c.event_type
        for c in REGISTRY.latest_contracts()
        if c.producer == s and c.event_type != "LedgerCheckpointed"
    ]
    for s in SOURCES
}


def consumed(event: RecordedEvent, producer: str) -> ConsumedEvent:
    """What the audit consumer would receive for this stored event: relay encoding, decode."""
    message = to_message(event, producer, routing_key_for(event.event_type))
    props = message.properties
    properties = {
        "message_id": props.message_id,
        "type": props.type,
        "app_id": props.app_id,
        "correlation_id": props.correlation_id,
    }
    return decode(message.body, props.content_type, properties, props.headers, message.exchange)


class World:
    """Appends example events as each service would; optionally relays them to the broker."""

    def __init__(self, database_url: str, amqp_uri: str | None = None) -> None:
        self.database_url, self.amqp_uri = database_url, amqp_uri
        self.pool = ConnectionPool(database_url, min_size=1, max_size=8, open=True)
        self.stores = {s: EventStore(self.pool, s) for s in SOURCES}
        self.seed = new_seed()
        self.signer: Signer = signer_from_config(
            {"AUDIT_SIGNING_KEY": self.seed, "AUDIT_SIGNING_KEY_ID": KEY_ID}
        )
        self.relays = RelayThreads(database_url, amqp_uri or "")
        self.service: Stack | None = None
        self._n = itertools.count()

    def start_relays(self, services: tuple[str, ...] = SOURCES) -> World:
        """Publish each store's log to `<service>.events`, as the services' relays do."""
        assert self.amqp_uri
        self.relays.start((service, self.stores[service]) for service in services)
        return self

    def start_service(self, admin_token: str, **config: Any) -> str:
        """The audit service in-process, signing with this world's key and checkpointing every
        half second, and identity, whose bootstrap admin `admin_token` may call verify; then
        the other producers' relays (audit's and identity's run in the services); audit's URL."""
        assert self.amqp_uri
        audit = {
            "AUDIT_SIGNING_KEY": self.seed,
            "AUDIT_SIGNING_KEY_ID": KEY_ID,
            "LEDGER_CHECKPOINT_SECONDS": 0.5,
            "AUDIT_VERIFY_DATABASE_URL": service_database_url(self.database_url, AUDITOR, {}),
            **config,
        }
        self.service = Stack(
            self.database_url,
            self.amqp_uri,
            ["audit", "identity"],
            {"audit": audit},
            admin_token=admin_token,
        )
        self.service.start()
        self.start_relays(("booking", "notification"))
        return self.service.url("audit")

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
        self.relays.close()
        self.pool.close()

    def emit(self, service: str, event_type: str | None = None) -> NewEvent:
        """One example event of `service` (types in rotation) on a stream of its own."""
        n = next(self._n)
        types = TYPES[service]
        event_type = event_type or types[n % len(types)]
        event = NewEvent(
            event_id=uuid.uuid4(),
            event_type=event_type,
            schema_version=REGISTRY.latest_version(event_type),
            data=REGISTRY.dump_payload(event_type, EXAMPLES[event_type]),
            metadata={"correlation_id": f"corr-{n}"},
        )
        self.stores[service].append(f"test-{service}-{n}", [event], expected_version=None)
        return event

    def emit_many(self, count: int) -> list[NewEvent]:
        """`count` events, the four producers in turn."""
        return [self.emit(SOURCES[i % len(SOURCES)]) for i in range(count)]

    def stored(self, service: str) -> list[RecordedEvent]:
        """Every committed event of a store, by position.

        Not read_all: that holds back events while any writing transaction older than them
        runs anywhere on the (shared) server, and these tests need all of them now.
        """
        with psycopg.connect(self.database_url) as conn:
            cur = conn.cursor(row_factory=args_row(RecordedEvent))
            return cur.execute(
                sql.SQL(
                    "SELECT position, transaction_id::text::bigint, stream_id, stream_version,"
                    " event_id, event_type, schema_version, data, metadata, recorded_at"
                    " FROM {} ORDER BY position"
                ).format(sql.Identifier(service, "events"))
            ).fetchall()

    def ingest_all(self) -> list[int | None]:
        """Ledger every stored event directly, as the consumer does (staged), no broker needed."""
        seqs: list[int | None] = []
        for service in self.stores:
            for event in self.stored(service):
                seqs.append(
                    sequencer.ingest(self.pool, ledger.from_consumed(consumed(event, service)))
                )
        return seqs

    def sql(self, statement: str, params: Any = None) -> list[tuple]:
        """As the database superuser, in a transaction of its own."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []
