"""The access index: exactly the ledger's access records, rebuildable, resumable, never skipping."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from services.audit import access_index, ledger
from services.audit.access_index_projection import PROJECTION as ACCESS_INDEX
from services.ops.rebuild import Rebuild
from tests.support.access_records import expected, fill, index
from tests.support.ledger import Ledger, tamper


def catch_up(url: str, **kw: Any) -> int:
    with psycopg.connect(url) as conn:
        return access_index.catch_up(conn, **kw)


def tail_and_position(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return ledger.tail(conn), access_index.position(conn)


def test_the_index_is_exactly_the_ledgers_access_records(world):
    book = Ledger(world.pool)
    fill(book, 300)
    assert catch_up(world.database_url) == tail_and_position(world.database_url)[0]
    want_requests, want_entries, want_targets = expected(book, world.database_url)
    got_requests, got_entries, got_targets = index(world.database_url)
    assert len(got_requests) == 300 and got_requests == want_requests
    assert got_entries == want_entries and got_targets == want_targets
    assert any(e[3] is None for e in got_entries)  # V1 with several patients: not paired
    assert any(r[11] == "denied" for r in got_requests)
    # V3: refused reads name their targets, refused tokens have no principal but a fingerprint
    assert got_targets and not {t[:3] for t in got_targets} & {e[:3] for e in got_entries}
    assert any(r[3] is None and r[17] == "unauthenticated" and r[18] for r in got_requests)
    position, tail = tail_and_position(world.database_url)
    assert position == tail


def test_rebuild_gives_identical_rows(world):
    book = Ledger(world.pool)
    fill(book, 120, seed=7)
    catch_up(world.database_url)
    before = index(world.database_url)
    connect = lambda: psycopg.connect(world.database_url)  # noqa: E731
    outcome = Rebuild(connect, ACCESS_INDEX, batch=25).run()  # `carnet replay rebuild`
    tail, position = tail_and_position(world.database_url)
    assert outcome.swapped and outcome.scanned == tail == position
    assert index(world.database_url) == before == expected(book, world.database_url)


def test_catch_up_is_idempotent_and_resumes_from_its_position(world):
    book = Ledger(world.pool)
    fill(book, 60, seed=8)
    first = tail_and_position(world.database_url)[0]
    assert catch_up(world.database_url, batch=7) == first  # several batches, each committed
    assert catch_up(world.database_url) == 0
    fill(book, 40, seed=9)
    tail = tail_and_position(world.database_url)[0]
    assert catch_up(world.database_url, batch=1000) == tail - first  # only the new rows
    assert catch_up(world.database_url) == 0
    assert index(world.database_url) == expected(book, world.database_url)
    assert tail_and_position(world.database_url) == (tail, tail)


def test_a_catch_up_that_may_not_wait_skips_while_another_holds_the_position(world):
    book = Ledger(world.pool)
    fill(book, 5, seed=10)
    with psycopg.connect(world.database_url) as holder, holder.transaction():
        holder.execute(
            "SELECT seq FROM audit.projection_positions WHERE name = 'access_index' FOR UPDATE"
        )
        assert catch_up(world.database_url, wait=False) == 0
    assert catch_up(world.database_url, wait=False) == tail_and_position(world.database_url)[0]


def test_a_hole_in_the_ledger_stops_the_index_instead_of_being_skipped(world):
    book = Ledger(world.pool)
    fill(book, 10, seed=11)
    catch_up(world.database_url)
    fill(book, 10, seed=12)
    position = tail_and_position(world.database_url)[1]
    tamper(world, ("DELETE FROM audit.ledger WHERE seq = %s", (position + 2,)))
    with pytest.raises(access_index.LedgerGap) as gap:
        catch_up(world.database_url)
    assert gap.value.seq == position + 2
    assert tail_and_position(world.database_url)[1] == position  # the batch rolled back


def test_concurrent_writers_and_catch_ups_index_every_record_once(world):
    """Replicas' timers (no wait) and queries (wait) racing the sequencer: still exact."""
    book, done = Ledger(world.pool), threading.Event()
    failures: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            fill(book, 40, seed=seed)
        except BaseException as error:  # surfaced below
            failures.append(error)

    def index_loop(wait: bool) -> None:
        try:
            while not done.is_set():
                catch_up(world.database_url, batch=9, wait=wait)
        except BaseException as error:
            failures.append(error)

    writers = [threading.Thread(target=write, args=(s,)) for s in (21, 22, 23)]
    indexers = [threading.Thread(target=index_loop, args=(w,)) for w in (True, False, False)]
    for t in writers + indexers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in indexers:
        t.join()
    assert failures == []
    catch_up(world.database_url)
    assert index(world.database_url) == expected(book, world.database_url)
