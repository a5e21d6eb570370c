"""Reading: a stream by version or as of an instant; the global log page by page."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from psycopg_pool import ConnectionPool

from services.common.eventstore import EventStore, LogCursor
from tests.integration.eventstore.conftest import event, stream


def test_read_stream_from_and_to_a_version(store: EventStore) -> None:
    s = stream()
    store.append(s, [event(n=i) for i in range(1, 6)], expected_version=0)
    assert [e.stream_version for e in store.read_stream(s, from_version=3)] == [3, 4, 5]
    assert [e.data["n"] for e in store.read_stream(s, 2, to_version=3)] == [2, 3]
    assert store.read_stream(s, from_version=6) == []
    assert store.read_stream(stream()) == []


def test_read_stream_as_of_an_instant(store: EventStore) -> None:
    s = stream()
    store.append(s, [event(step="booked")], expected_version=0)
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    store.append(s, [event(step="rescheduled")], expected_version=1)
    assert [e.data["step"] for e in store.read_stream(s, as_of=between)] == ["booked"]
    assert len(store.read_stream(s, as_of=datetime.now(UTC))) == 2
    (first,) = store.read_stream(s, as_of=between)
    assert first.recorded_at <= between


def test_read_all_pages_through_the_log_in_order(store: EventStore) -> None:
    start = store.head()
    s1, s2 = stream(), stream()
    store.append(s1, [event(), event()], expected_version=0)
    store.append(s2, [event()], expected_version=0)
    store.append(s1, [event()], expected_version=2)
    pages, cursor = [], start
    while page := store.read_all(cursor, limit=2):
        pages.append(page)
        cursor = page[-1].cursor
    seen = [(e.stream_id, e.stream_version) for page in pages for e in page]
    assert seen == [(s1, 1), (s1, 2), (s2, 1), (s1, 3)]
    assert [len(p) for p in pages] == [2, 2]
    assert cursor == store.head()
    assert store.count_pending_after(start) == 4
    assert store.count_pending_after(cursor) == 0


def test_head_of_an_empty_log_is_the_start(pool: ConnectionPool) -> None:
    empty = EventStore(pool, "notification")  # no test module writes there
    assert empty.head() == LogCursor.start()
    assert empty.read_all(LogCursor.start()) == []


def test_the_writers_lock_variant_reads_by_position(pool: ConnectionPool) -> None:
    locked = EventStore(pool, "audit", ordering="lock")  # a schema only this test writes to
    s = stream()
    first = locked.append(s, [event(), event()], expected_version=0)
    locked.append(s, [event()], expected_version=2)
    log = locked.read_all(LogCursor(0, first.positions[0] - 1))
    assert [e.stream_version for e in log] == [1, 2, 3]
    assert locked.head() == log[-1].cursor
    assert locked.count_pending_after(LogCursor(0, log[0].position)) == 2
