"""The global log never skips a late commit, never shows one early, and keeps stream order."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import defaultdict
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from services.common.eventstore import EventStore, LogCursor, RecordedEvent
from tests.integration.eventstore import workers
from tests.support.eventstore import SCHEMA, connect, event, stream
from tests.support.poll import eventually

WRITERS = 8
EVENTS_PER_WRITER = 2_500  # at least 20,000 committed events per run
SHARED_STREAMS = 40
# One run in `make test`; `make chaos` repeats it (CARNET_GLOBAL_LOG_RUNS=5): each run draws
# other interleavings, and a run costs about 8 s.
RUNS = int(os.environ.get("CARNET_GLOBAL_LOG_RUNS", "1"))


def _tail_until(store: EventStore, after: LogCursor, count: int) -> list[RecordedEvent]:
    """read_all until `count` events arrive: a transaction elsewhere on the server may hold
    the snapshot's xmin back for a moment (a delay, never a loss)."""
    got: list[RecordedEvent] = []

    def arrived() -> bool:
        got.extend(store.read_all(got[-1].cursor if got else after))
        return len(got) >= count

    eventually(arrived, 30, f"{count} events in the log", interval=0.01)
    return got


def test_a_late_commit_is_skipped_by_a_position_reader_never_by_read_all(
    pool: ConnectionPool, migrated_database_url: str
) -> None:
    store = EventStore(pool, SCHEMA)
    naive = EventStore(pool, SCHEMA, ordering="lock")  # reads `position > last`
    start = store.head()
    naive_cursor = naive.head()
    late, early = event(), event()
    with connect(migrated_database_url) as a, connect(migrated_database_url) as b:
        # A inserts first, so it draws the lower position; it stays open.
        (late_position,) = store.append_in(a, stream(), [late], expected_version=0).positions
        # B inserts after and commits first.
        (early_position,) = store.append_in(b, stream(), [early], expected_version=0).positions
        b.commit()
        assert late_position < early_position
        # The position reader sees B's event and moves past A's position...
        first = naive.read_all(naive_cursor)
        assert [e.event_id for e in first] == [early.event_id]
        naive_cursor = first[-1].cursor
        # ...while read_all holds B's event back: A, older, has not ended yet.
        assert store.read_all(start) == []
        a.commit()
    # A's event is now committed, behind the position reader: it never sees it.
    assert naive.read_all(naive_cursor) == []
    # read_all delivers both, in (transaction id, position) order.
    assert [e.event_id for e in _tail_until(store, start, 2)] == [late.event_id, early.event_id]


@pytest.mark.slow
@pytest.mark.parametrize("run", range(RUNS))
def test_concurrent_writers_and_a_tailing_reader(
    migrated_database_url: str, tmp_path: Path, run: int
) -> None:
    """8 writer processes commit late and in any order; the reader sees each event once."""
    schema = "identity"  # a schema of its own; each run reads from where the last one ended
    before = EventStore(lambda: connect(migrated_database_url), schema).head()
    spawn = multiprocessing.get_context("spawn")
    done_flag = tmp_path / "writers-done"
    reader = spawn.Process(
        target=workers.tail,
        args=(
            migrated_database_url,
            schema,
            (before.transaction_id, before.position),
            str(done_flag),
            str(tmp_path / "reader.json"),
        ),
    )
    writers = [
        spawn.Process(
            target=workers.write,
            args=(
                migrated_database_url,
                schema,
                w + 100 * run,
                EVENTS_PER_WRITER,
                SHARED_STREAMS,
                str(tmp_path / f"writer-{w}.json"),
            ),
        )
        for w in range(WRITERS)
    ]
    try:
        reader.start()
        for p in writers:
            p.start()
        for p in writers:
            p.join(timeout=120)
            assert p.exitcode == 0
        done_flag.touch()
        reader.join(timeout=120)
        assert reader.exitcode == 0
    finally:
        for p in [reader, *writers]:
            if p.is_alive():
                p.kill()
                p.join()

    reports = [json.loads((tmp_path / f"writer-{w}.json").read_text()) for w in range(WRITERS)]
    read = json.loads((tmp_path / "reader.json").read_text())
    commit_started = {i: t for r in reports for ids, t in r["committed"] for i in ids}
    abandoned = {i for r in reports for i in r["abandoned"]}
    seen = read["seen"]
    seen_ids = [row[0] for row in seen]

    assert len(commit_started) >= WRITERS * EVENTS_PER_WRITER >= 20_000
    # Every committed event exactly once, nothing rolled back, nothing else.
    assert len(seen_ids) == len(set(seen_ids))
    assert set(seen_ids) == set(commit_started)
    assert not abandoned & set(seen_ids)
    # Never before its commit: its batch arrived after the writer called COMMIT.
    early = [row for row in seen if row[5] < commit_started[row[0]]]
    assert not early
    # The log order is strictly rising in (transaction id, position)...
    cursors = [(row[1], row[2]) for row in seen]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    # ...so positions rise within a transaction, and each stream reads 1, 2, 3, ... in order.
    versions: dict[str, list[int]] = defaultdict(list)
    for row in seen:
        versions[row[3]].append(row[4])
    for stream_id, got in versions.items():
        start = got[0]
        assert got == list(range(start, start + len(got))), stream_id

    stale = sum(r["stale"] for r in reports)
    clashes = sum(r["clashes"] for r in reports)
    naive_missed = len(set(commit_started) - set(read["naive_seen"]))
    print(
        f"\nrun {run}: {len(seen_ids)} events in {len(set(c[0] for c in cursors))} transactions;"
        f" retried: {clashes} clashes, {stale} stale xids;"
        f" a position > last reader missed {naive_missed}"
    )
