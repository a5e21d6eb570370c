"""Appending: optimistic concurrency, idempotent retries, the per-stream order guard."""

from __future__ import annotations

import io
import threading
import time

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore import (
    ConcurrencyError,
    EventStore,
    IdempotencyConflict,
    LogCursor,
)
from services.common.eventstore.append_codec import STALE_XID
from services.common.logging import configure_logging
from tests.support.eventstore import (
    SCHEMA,
    connect,
    event,
    stream,
    wait_until_readable,
)


def test_a_new_stream_starts_at_version_one_with_rising_positions(store: EventStore) -> None:
    s = stream()
    result = store.append(s, [event(), event(), event()], expected_version=0)
    assert result.stream_version == 3
    assert not result.already_stored
    assert list(result.positions) == sorted(result.positions)
    recorded = store.read_stream(s)
    assert [e.stream_version for e in recorded] == [1, 2, 3]
    assert tuple(e.position for e in recorded) == result.positions


def test_expected_version_must_match_the_head(store: EventStore) -> None:
    s = stream()
    store.append(s, [event(), event()], expected_version=0)
    with pytest.raises(ConcurrencyError) as clash:
        store.append(s, [event()], expected_version=0)
    assert (clash.value.expected_version, clash.value.actual_version) == (0, 2)
    with pytest.raises(ConcurrencyError):
        store.append(s, [event()], expected_version=1)
    with pytest.raises(ConcurrencyError):
        store.append(s, [event()], expected_version=3)  # ahead of the head: no gaps
    assert store.append(s, [event()], expected_version=2).stream_version == 3
    assert store.append(s, [event()], expected_version=None).stream_version == 4


def test_an_identical_retry_returns_the_original_positions(store: EventStore) -> None:
    s = stream()
    batch = [event(), event()]
    first = store.append(s, batch, expected_version=0)
    store.append(s, [event()], expected_version=2)  # the stream moves on meanwhile
    again = store.append(s, batch, expected_version=0)
    assert again.already_stored
    assert (again.positions, again.stream_version) == (first.positions, 2)
    assert store.append(s, batch, expected_version=None).positions == first.positions
    assert len(store.read_stream(s)) == 3


def test_a_batch_with_only_some_ids_stored_is_refused(store: EventStore) -> None:
    s = stream()
    stored = event()
    store.append(s, [stored], expected_version=0)
    with pytest.raises(IdempotencyConflict):
        store.append(s, [stored, event()], expected_version=None)
    with pytest.raises(IdempotencyConflict):  # the same id in another stream is no retry
        store.append(stream(), [stored], expected_version=0)
    assert len(store.read_stream(s)) == 1


def test_malformed_batches_are_refused_before_any_sql(store: EventStore) -> None:
    e = event()
    with pytest.raises(ValueError):
        store.append(stream(), [], expected_version=0)
    with pytest.raises(ValueError):
        store.append(stream(), [e, e], expected_version=0)
    with pytest.raises(ValueError):
        store.append(stream(), [event()], expected_version=-1)


def test_append_in_commits_or_rolls_back_with_the_callers_transaction(
    store: EventStore, migrated_database_url: str
) -> None:
    s, committed, rolled_back = stream(), event(), event()
    with connect(migrated_database_url) as conn:
        with conn.transaction():
            store.append_in(conn, s, [committed], expected_version=0)
            conn.execute(
                f"INSERT INTO {SCHEMA}.processed_events (consumer, event_id) VALUES (%s, %s)",
                ("test", committed.event_id),
            )
        with pytest.raises(RuntimeError), conn.transaction():
            store.append_in(conn, s, [rolled_back], expected_version=1)
            raise RuntimeError("the handler failed after appending")
    assert [e.event_id for e in store.read_stream(s)] == [committed.event_id]


def test_a_refusal_inside_append_in_leaves_the_transaction_usable(
    store: EventStore, migrated_database_url: str
) -> None:
    s = stream()
    batch = [event()]
    store.append(s, batch, expected_version=0)
    with connect(migrated_database_url) as conn, conn.transaction():
        with pytest.raises(ConcurrencyError):
            store.append_in(conn, s, [event()], expected_version=0)
        assert store.append_in(conn, s, batch, expected_version=0).already_stored
        assert store.append_in(conn, s, [event()], expected_version=1).stream_version == 2
    assert len(store.read_stream(s)) == 2


def test_two_identical_appends_at_once_store_the_batch_once(
    store: EventStore, migrated_database_url: str
) -> None:
    """The retry blocks on the first writer's unique key, then reports the original."""
    s = stream()
    batch = [event(), event()]
    results = []
    with connect(migrated_database_url) as first:
        original = store.append_in(first, s, batch, expected_version=0)  # not committed yet
        retry = threading.Thread(target=lambda: results.append(store.append(s, batch, 0)))
        retry.start()
        time.sleep(0.2)  # the retry is now waiting on the first transaction's row locks
        assert not results
        first.commit()
        retry.join(timeout=10)
    assert results[0].already_stored
    assert results[0].positions == original.positions
    assert len(store.read_stream(s)) == 2


def test_a_transaction_older_than_the_stream_head_must_retry(
    store: EventStore, migrated_database_url: str
) -> None:
    """Its xid would sort its event before the head in the global log: refused, usable."""
    s = stream()
    with connect(migrated_database_url) as consumer:
        # The consumer's first write (its inbox claim) gives it an xid...
        consumer.execute(
            f"INSERT INTO {SCHEMA}.processed_events (consumer, event_id) VALUES (%s, %s)",
            ("test", event().event_id),
        )
        # ...then a newer transaction appends to the stream and commits.
        head = store.append(s, [event()], expected_version=0)
        with pytest.raises(ConcurrencyError) as stale:
            store.append_in(consumer, s, [event()], expected_version=1)
        assert stale.value.reason == STALE_XID
        consumer.rollback()
        # Retried in a new transaction, it follows the head in both orders.
        retried = store.append_in(consumer, s, [event()], expected_version=1)
        consumer.commit()
    wait_until_readable(store, retried.positions[-1])
    log = store.read_all(LogCursor(0, head.positions[0] - 1))
    assert [e.stream_version for e in log if e.stream_id == s] == [1, 2]


@pytest.mark.serial  # fifty connections: beside two shards' services, past max_connections
@pytest.mark.parametrize("transaction", ["own", "callers"])
def test_fifty_concurrent_appends_at_one_version_have_one_winner(
    store: EventStore, migrated_database_url: str, transaction: str
) -> None:
    s = stream()
    store.append(s, [event()], expected_version=0)
    conns = [connect(migrated_database_url) for _ in range(50)]
    start = threading.Barrier(50)
    wins: list[int] = []
    clashes: list[ConcurrencyError] = []

    def writer(conn: psycopg.Connection) -> None:
        start.wait()
        try:
            if transaction == "own":
                wins.append(store.append(s, [event()], expected_version=1).stream_version)
            else:
                with conn.transaction():
                    result = store.append_in(conn, s, [event()], expected_version=1)
                    time.sleep(0.05)  # hold the row so the others block on the unique key
                wins.append(result.stream_version)
        except ConcurrencyError as exc:
            clashes.append(exc)

    threads = [threading.Thread(target=writer, args=(c,)) for c in conns]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        for c in conns:
            c.close()
    assert (wins, len(clashes)) == ([2], 49)
    assert [e.stream_version for e in store.read_stream(s)] == [1, 2]


def test_a_connection_factory_works_as_well_as_a_pool(migrated_database_url: str) -> None:
    factory_store = EventStore(lambda: psycopg.connect(migrated_database_url), SCHEMA)
    s = stream()
    factory_store.append(s, [event(), event()], expected_version=0)
    assert [e.stream_version for e in factory_store.read_stream(s)] == [1, 2]


def test_data_and_metadata_round_trip_as_json(store: EventStore) -> None:
    s = stream()
    data = {"text": 'Zoë «quoted» "\\ \u2603', "nested": {"list": [1, 2.5, None, True]}}
    sent = event(**data)
    store.append(s, [sent], expected_version=0)
    (got,) = store.read_stream(s)
    assert (got.event_id, got.event_type, got.schema_version) == (sent.event_id, "SlotsOpened", 1)
    assert (got.data, got.metadata) == (sent.data, sent.metadata)


def test_without_migration_0034_a_single_event_still_appends_as_before(
    fresh_migrated_database_url: str,
) -> None:
    """Code rolled out before its migration: the one-event path steps aside, nothing fails."""
    with psycopg.connect(fresh_migrated_database_url, autocommit=True) as conn:
        conn.execute(
            f"DROP FUNCTION {SCHEMA}.append_one(text, int4, uuid, text, int4, jsonb, jsonb)"
        )
    store = EventStore(lambda: connect(fresh_migrated_database_url), SCHEMA)
    s = stream()
    assert store.append(s, [event()], expected_version=0).stream_version == 1
    with pytest.raises(ConcurrencyError):
        store.append(s, [event()], expected_version=0)
    assert store.append(s, [event()], expected_version=None).stream_version == 2


def test_a_store_whose_pool_closed_sends_no_notify_and_logs_nothing(
    migrated_database_url: str,
) -> None:
    """A stopping process: its last commits' NOTIFY has no pool left; the relay polls."""
    pool = ConnectionPool(migrated_database_url, min_size=1, max_size=1, open=True)
    store = EventStore(pool, SCHEMA)
    store.append(stream(), [event()], expected_version=0)  # marks the notifier due
    pool.close()
    stream_ = io.StringIO()
    configure_logging("test", stream=stream_)
    store._notifier.flush()  # what the exit hook does
    store._notify()
    assert "notify_failed" not in stream_.getvalue()
