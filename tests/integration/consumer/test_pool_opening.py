"""A consumer whose database does not answer yet declares its queue but takes nothing until the
pool opens, so no message spends an attempt on the wait (a restarted audit replica failed ten
once: #24's finding; readiness gates consumption)."""

from __future__ import annotations

import io
import threading
import uuid

import psycopg
from nameko.runners import ServiceRunner

from services.common.logging import configure_logging
from services.common.nameko_ext.consumer import consume_event
from services.common.nameko_ext.database import DatabasePool
from services.common.nameko_ext.inbox_provider import InboxProvider
from tests.support.amqp import consumer_count, queue_depth
from tests.support.infra import PG_ADMIN_URL, create_database, database_url_for, drop_database
from tests.support.poll import eventually
from tests.support.processes import queue_exists
from tests.support.publish import BOOKED, publish, valid_body

QUEUE = "carnet.q.notification.on_booked"


class LateDatabaseService:
    name = "notification"
    db = DatabasePool()
    inbox = InboxProvider()

    @consume_event("booking", BOOKED, max_attempts=5)
    def on_booked(self, event):
        def effect(conn):
            conn.execute("INSERT INTO notification.late (event_id) VALUES (%s)", (event.event_id,))

        self.inbox.once(event.event_id, effect)


def renamed(url: str, name: str) -> bool:
    """Rename the database at `url`, once the server has let go of its last connection."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        try:
            conn.execute(f'ALTER DATABASE "{url.rpartition("/")[2]}" RENAME TO "{name}"')
        except psycopg.errors.ObjectInUse:
            return False
    return True


def test_a_message_taken_before_the_database_answers_waits_for_the_pool(
    migrated_template, fresh_broker
):
    ready = create_database(template=migrated_template)  # moved into place later
    with psycopg.connect(ready, autocommit=True) as conn:
        conn.execute("CREATE TABLE notification.late (event_id uuid)")
    final = f"carnet_test_late_{uuid.uuid4().hex[:10]}"
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    runner = ServiceRunner({"AMQP_URI": fresh_broker, "DATABASE_URL": database_url_for(final)})
    runner.add_service(LateDatabaseService)
    starting = threading.Thread(target=runner.start, daemon=True)  # blocks on the database
    starting.start()
    try:
        # The queue is there from the start (nothing published to it is dropped) ...
        eventually(lambda: queue_exists(fresh_broker, QUEUE), 30, "the queue declared")
        publish(fresh_broker, valid_body())
        eventually(lambda: "postgresql" in stream.getvalue(), 30, "a retry of the database")
        # ... but nothing consumes it while the database is away: the message waits, ready.
        assert consumer_count(fresh_broker, QUEUE) == 0
        assert queue_depth(fresh_broker, QUEUE) == 1
        eventually(lambda: renamed(ready, final), 30, "the database moved into place")

        def handled() -> bool:
            with psycopg.connect(database_url_for(final)) as conn:
                return conn.execute("SELECT count(*) FROM notification.late").fetchone()[0] == 1

        eventually(handled, 60, "the event handled once the pool opened")
        assert consumer_count(fresh_broker, QUEUE) == 1  # consuming now
        starting.join(30)
        assert not starting.is_alive()  # the container finished starting
        assert "message.requeued" not in stream.getvalue()  # no attempt spent on the wait
    finally:
        runner.stop()
        drop_database(database_url_for(final))
        drop_database(ready)
