"""Reading: a stream by version or as of an instant; the global log page by page."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore import EventStore, LogCursor
from tests.support.eventstore import event, stream, wait_until_readable
from tests.support.poll import eventually


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
    # The module's earlier events all readable first, or one may arrive after `start`.
    eventually(lambda: store.count_pending_after(store.head()) == 0, 30, "a quiet log")
    start = store.head()
    s1, s2 = stream(), stream()
    store.append(s1, [event(), event()], expected_version=0)
    store.append(s2, [event()], expected_version=0)
    last = store.append(s1, [event()], expected_version=2)
    wait_until_readable(store, last.positions[-1])
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


def test_read_all_raw_is_read_all_with_the_stored_json_text(
    store: EventStore, pool: ConnectionPool
) -> None:
    start = store.head()
    s = stream()
    store.append(s, [event(n=1, name="Zoë"), event(nested={"b": [1, 2]})], expected_version=0)
    # A transaction elsewhere on the server may hold the log back for a moment (ADR 0003).
    raw = eventually(lambda: len(r := _of(s, store.read_all_raw(start))) >= 2 and r, 30, "both")
    decoded = _of(s, store.read_all(start))
    assert [e.cursor for e in raw] == [e.cursor for e in decoded]
    with pool.connection() as conn:
        stored = [
            r[0]
            for r in conn.execute(
                "SELECT data::text FROM booking.events WHERE stream_id = %s ORDER BY 1", (s,)
            )
        ]
    assert sorted(e.data for e in raw) == stored
    for d, r in zip(decoded, raw, strict=True):
        assert json.loads(r.data) == d.data
        assert r._replace(data=d.data) == d


def _of(stream_id: str, events: list[Any]) -> list[Any]:
    return [e for e in events if e.stream_id == stream_id]


def test_recorded_events_are_immutable(store: EventStore) -> None:
    s = stream()
    store.append(s, [event()], expected_version=0)
    (recorded,) = store.read_stream(s)
    with pytest.raises(AttributeError):
        recorded.data = {}  # type: ignore[misc]
    assert recorded.cursor == LogCursor(recorded.transaction_id, recorded.position)
