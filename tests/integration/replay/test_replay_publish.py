"""`carnet replay publish`: a slice of the log, as the relay sends it, to one queue only."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from services.cli.main import cli
from services.common.eventstore.models import LogCursor, RawRecordedEvent
from services.common.eventstore.store import EventStore
from services.common.relay.messages import to_message
from services.common.relay.routing import routing_key_for
from tests.support.amqp import connect, deliveries, probe_queue, queue_depth
from tests.support.events import new_event
from tests.support.poll import eventually

# Other runs on this PostgreSQL server can hold the snapshot xmin back for minutes (ADR 0003).
READABLE_TIMEOUT = 300.0
pytestmark = pytest.mark.timeout(900)
SERVICE = "booking"


def _log(store: EventStore) -> list[RawRecordedEvent]:
    """The whole readable log, in the store's (transaction id, position) order."""
    out: list[RawRecordedEvent] = []
    cursor = LogCursor.start()
    while events := store.read_all_raw(cursor, limit=1000):
        out.extend(events)
        cursor = events[-1].cursor
    return out


def _wait_readable(store: EventStore, ids: set[uuid.UUID]) -> None:
    """Readable once no older writing transaction runs on the server (ADR 0003)."""
    eventually(
        lambda: ids <= {e.event_id for e in _log(store)},
        READABLE_TIMEOUT,
        "the appended events to become readable",
    )


def _target_queue(amqp_uri: str, name: str) -> None:
    with connect(amqp_uri) as conn:
        conn.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["replay", "publish", "--service", SERVICE, *args])


@pytest.fixture(scope="module")
def history(migrated_database_url):
    """Events of several types and streams, one of them out of position order in the log."""
    url = migrated_database_url
    with ConnectionPool(url, min_size=1, max_size=2) as pool:
        store = EventStore(pool, SERVICE)
        ids: set[uuid.UUID] = set()
        appt, slots = f"appointment-{uuid.uuid4()}", f"slots-{uuid.uuid4()}"
        for stream, kinds in [
            (appt, ["AppointmentBooked", "AppointmentRescheduled"]),
            (slots, ["SlotsOpened", "SlotHeld", "SlotReleased"]),
            (f"appointment-{uuid.uuid4()}", ["AppointmentBooked", "AppointmentCancelled"]),
        ]:
            for version, kind in enumerate(kinds):
                event = new_event(kind)
                store.append(stream, [event], expected_version=version)
                ids.add(event.event_id)
        # Transaction A takes its xid first, B appends and commits, then A appends: A's
        # event has the larger position but comes first in the (xid, position) log.
        late, early = new_event("SlotHeld"), new_event("AppointmentBooked")
        with psycopg.connect(url) as a:
            a.execute("SELECT pg_current_xact_id()")
            store.append(f"appointment-{uuid.uuid4()}", [early], expected_version=0)
            store.append_in(a, f"slots-{uuid.uuid4()}", [late], expected_version=0)
        ids |= {late.event_id, early.event_id}
        _wait_readable(store, ids)
        mine = [e for e in _log(store) if e.event_id in ids]
    assert [e.position for e in mine] != sorted(e.position for e in mine)
    return url, mine


def test_publish_delivers_the_selected_events_as_the_relay_would(history, fresh_broker):
    url, mine = history
    probe_queue(fresh_broker, "probe.booking", f"{SERVICE}.events")
    _target_queue(fresh_broker, "consumer.target")
    lo, hi = sorted(e.position for e in mine)[1], max(e.position for e in mine)
    types = ["AppointmentBooked", "SlotHeld", "SlotReleased"]
    expected = [e for e in mine if lo <= e.position <= hi and e.event_type in types]
    assert len(expected) >= 4
    assert [e.position for e in expected] != sorted(e.position for e in expected)

    result = _invoke(
        "--from-position", str(lo), "--to-position", str(hi),
        *[arg for t in types for arg in ("--type", t)],
        "--to-queue", "consumer.target",
        "--database-url", url, "--amqp-uri", fresh_broker,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"sent {len(expected)} events" in result.output

    got = deliveries(fresh_broker, "consumer.target", len(expected))
    assert [p.message_id for _m, p, _b in got] == [str(e.event_id) for e in expected]
    for (method, props, body), event in zip(got, expected, strict=True):
        relayed = to_message(event, SERVICE, routing_key_for(event.event_type))
        assert body == relayed.body == event.data.encode()  # the stored JSON text, unparsed
        assert (method.exchange, method.routing_key) == ("", "consumer.target")
        want = relayed.properties
        for name in (
            "content_type", "content_encoding", "delivery_mode", "message_id",
            "correlation_id", "type", "timestamp", "app_id", "headers",
        ):  # fmt: skip
            assert getattr(props, name) == getattr(want, name), name
    assert queue_depth(fresh_broker, "consumer.target") == 0
    # Confirmed before the command returned: a bound queue would hold them by now.
    assert queue_depth(fresh_broker, "probe.booking") == 0


def test_stream_filter_and_a_repeat_deliver_again(history, fresh_broker):
    url, mine = history
    _target_queue(fresh_broker, "consumer.again")
    stream = next(e.stream_id for e in mine if e.stream_id.startswith("slots-"))
    expected = [str(e.event_id) for e in mine if e.stream_id == stream]
    args = [
        "--from-position", "0", "--stream", stream, "--to-queue", "consumer.again",
        "--database-url", url, "--amqp-uri", fresh_broker, "--batch-size", "2",
    ]  # fmt: skip
    for _ in range(2):
        result = _invoke(*args)
        assert result.exit_code == 0, result.output
    got = deliveries(fresh_broker, "consumer.again", 2 * len(expected))
    assert [p.message_id for _m, p, _b in got] == expected * 2


def test_dry_run_sends_nothing(history, fresh_broker):
    url, mine = history
    _target_queue(fresh_broker, "consumer.dry")
    lo = min(e.position for e in mine)
    result = _invoke(
        "--from-position", str(lo), "--to-queue", "consumer.dry", "--dry-run",
        "--database-url", url, "--amqp-uri", fresh_broker,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"would send {len(mine)} events" in result.output
    assert f"first {mine[0].position}, last {mine[-1].position}" in result.output
    assert "AppointmentBooked" in result.output and "SlotReleased" in result.output
    assert queue_depth(fresh_broker, "consumer.dry") == 0


def test_unknown_queue_is_refused_and_not_created(history, fresh_broker):
    url, _mine = history
    result = _invoke(
        "--from-position", "0", "--to-queue", "consumer.typo",
        "--database-url", url, "--amqp-uri", fresh_broker,
    )  # fmt: skip
    assert result.exit_code != 0
    assert "'consumer.typo' does not exist" in result.output
    with pytest.raises(Exception, match="NOT_FOUND"):
        queue_depth(fresh_broker, "consumer.typo")
