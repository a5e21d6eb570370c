"""carnet_events_appended_total counts committed events only, on the real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.web.handlers import http
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool
from werkzeug.wrappers import Response

from services.common.eventstore.after_commit import AfterCommitConnection
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.nameko_ext.base import CarnetService
from tests.integration.metrics.scrape import metric
from tests.support.ports import free_port

APPENDED = "carnet_events_appended_total"


def new_event(event_type: str) -> NewEvent:
    return NewEvent(uuid.uuid4(), event_type, 1, {"n": 1}, {"correlation_id": "metrics-test"})


def counted(event_type: str, service: str = "booking") -> float:
    value = REGISTRY.get_sample_value(APPENDED, {"service": service, "event_type": event_type})
    return value or 0.0


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    p = ConnectionPool(
        migrated_database_url, min_size=1, max_size=2, connection_class=AfterCommitConnection
    )
    yield p
    p.close()


@pytest.fixture
def kind() -> str:
    """An event type no other test appends: its counter starts absent."""
    return f"MetricsProbe{uuid.uuid4().hex[:8]}"


def test_an_append_in_counts_when_its_transaction_commits(pool, kind):
    store = EventStore(pool, "booking")
    with pool.connection() as conn, conn.transaction():
        store.append_in(conn, f"probe-{uuid.uuid4()}", [new_event(kind), new_event(kind)], 0)
        assert counted(kind) == 0  # not yet: the transaction could still roll back
    assert counted(kind) == 2


def test_an_append_in_rolled_back_is_never_counted(pool, kind):
    store = EventStore(pool, "booking")
    with pytest.raises(RuntimeError), pool.connection() as conn, conn.transaction():
        store.append_in(conn, f"probe-{uuid.uuid4()}", [new_event(kind)], 0)
        raise RuntimeError("the unit of work fails after its append")
    with pool.connection() as conn:  # an implicit transaction, rolled back by hand
        store.append_in(conn, f"probe-{uuid.uuid4()}", [new_event(kind)], 0)
        conn.rollback()
    assert counted(kind) == 0


def test_a_savepoint_rolled_back_drops_its_appends_and_keeps_the_enclosing_ones(pool, kind):
    store = EventStore(pool, "booking")
    inner = f"{kind}Inner"
    with pool.connection() as conn, conn.transaction():
        store.append_in(conn, f"probe-{uuid.uuid4()}", [new_event(kind)], 0)
        with pytest.raises(RuntimeError), conn.transaction():
            store.append_in(conn, f"probe-{uuid.uuid4()}", [new_event(inner)], 0)
            raise RuntimeError("rolled back to the savepoint")
        with conn.transaction():  # released: the outer commit decides
            store.append_in(conn, f"probe-{uuid.uuid4()}", [new_event(kind)], 0)
        assert counted(kind) == 0
    assert (counted(kind), counted(inner)) == (2, 0)


def test_append_counts_at_once_and_an_idempotent_repeat_counts_nothing(pool, kind):
    store = EventStore(pool, "booking")
    event, stream = new_event(kind), f"probe-{uuid.uuid4()}"
    store.append(stream, [event], 0)
    assert counted(kind) == 1
    assert store.append(stream, [event], 0).already_stored
    with pool.connection() as conn, conn.transaction():
        assert store.append_in(conn, stream, [event], 0).already_stored
    assert counted(kind) == 1


def test_a_connection_whose_commit_cannot_be_seen_is_not_counted(migrated_database_url, kind):
    """Better an event uncounted than a rolled-back one counted: only the pool's class hooks."""
    with psycopg.connect(migrated_database_url) as conn:
        EventStore(lambda: conn, "booking").append_in(
            conn, f"probe-{uuid.uuid4()}", [new_event(kind)], 0
        )
    assert counted(kind) == 0
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:  # committed at once
        EventStore(lambda: conn, "booking").append_in(
            conn, f"probe-{uuid.uuid4()}", [new_event(kind)], 0
        )
    assert counted(kind) == 1


# -- through a running service's pool and its /metrics ----------------------------------------
class AppendingService(CarnetService):
    """Appends through the service's own pool and store, as a handler does."""

    name = "booking"

    @http("POST", "/append/<string:event_type>")
    def append(self, request, event_type):
        with self.db.connection() as conn, conn.transaction():
            self.store.append_in(conn, f"probe-{uuid.uuid4()}", [new_event(event_type)], 0)
            if request.args.get("fail"):
                raise RuntimeError("fails after the append: nothing was appended")
        return Response(json.dumps({"ok": True}), 200, mimetype="application/json")


@pytest.fixture
def service(migrated_database_url, module_broker) -> Iterator[tuple[str, str]]:
    port = free_port()
    container = ServiceContainer(
        AppendingService,
        {
            "AMQP_URI": module_broker,
            "DATABASE_URL": migrated_database_url,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        },
    )
    container.start()
    try:
        yield f"http://127.0.0.1:{port}", migrated_database_url
    finally:
        container.stop()


def test_the_service_metrics_show_committed_appends_not_failed_ones(service, kind):
    base, database_url = service
    labels = {"service": "booking", "event_type": kind}
    assert metric(base, APPENDED, **labels) == 0
    assert requests.post(f"{base}/append/{kind}", timeout=10).status_code == 200
    assert metric(base, APPENDED, **labels) == 1
    assert requests.post(f"{base}/append/{kind}?fail=1", timeout=10).status_code == 500
    assert metric(base, APPENDED, **labels) == 1
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM booking.events WHERE event_type = %s", (kind,)
        ).fetchone()[0]
    assert stored == 1  # the counter and the store agree
