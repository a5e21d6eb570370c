"""The sequencer: once per event id, seq 1..N without gaps, each row chained to the last."""

from __future__ import annotations

import threading

import psycopg
import pytest

from services.audit import checkpoint as checkpoint_module
from services.audit import ledger, merkle, sequencer
from services.audit.canonical import GENESIS_HASH, entry_hash
from services.audit.checkpoint import checkpoint
from tests.integration.audit.world import SOURCES, consumed
from tests.support.ledger import verify


def rows(world):
    with psycopg.connect(world.database_url) as conn, conn.transaction():
        return list(ledger.iter_entries(conn))


def test_every_event_is_ledgered_once_with_its_envelope_and_raw_payload(world):
    emitted = world.emit_many(12)
    assert sorted(s for s in world.ingest_all() if s) == list(range(1, 13))
    assert world.ingest_all() == [None] * 12  # redelivery adds nothing
    by_id = {r["event_id"]: r for r in rows(world)}
    assert set(by_id) == {e.event_id for e in emitted}
    booked = next(e for e in emitted if e.event_type == "AppointmentBooked")
    row = by_id[booked.event_id]
    assert row["source_service"] == "booking" and row["payload"] == booked.data
    assert row["stream_id"].startswith("test-booking-") and row["stream_version"] == 1
    assert row["metadata"]["correlation_id"] == booked.metadata["correlation_id"]
    assert row["metadata"]["headers"]["position"] == row["source_position"]
    assert row["occurred_at"] is not None and row["recorded_at"] is not None


def test_hash_chain_links_each_row_to_the_previous(world):
    world.emit_many(6)
    world.ingest_all()
    prev = GENESIS_HASH
    for i, row in enumerate(rows(world), start=1):
        assert row["seq"] == i and bytes(row["prev_hash"]) == prev
        assert bytes(row["entry_hash"]) == entry_hash(prev, row)
        prev = bytes(row["entry_hash"])


def test_concurrent_ingest_of_the_same_events_stays_one_gap_free_chain(world):
    world.emit_many(40)
    events = [ledger.from_consumed(consumed(e, s)) for s in SOURCES for e in world.stored(s)]

    def worker(order):
        for event in order:
            sequencer.ingest(world.pool, event)

    threads = [
        threading.Thread(target=worker, args=(events[i::2] + events[: i or None],))
        for i in range(4)
    ] + [threading.Thread(target=worker, args=(list(reversed(events)),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = rows(world)
    assert [r["seq"] for r in got] == list(range(1, 41))
    assert len({r["event_id"] for r in got}) == 40
    assert verify(world).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.ledger SET event_type = 'x' WHERE seq = 1",
        "DELETE FROM audit.ledger WHERE seq = 1",
        "TRUNCATE audit.ledger",
        "UPDATE audit.checkpoints SET tree_size = 1",
        "DELETE FROM audit.checkpoints",
        "TRUNCATE audit.checkpoints",
    ],
)
def test_no_role_may_change_the_ledger(world, statement):
    world.emit_many(2)
    world.ingest_all()
    assert checkpoint(world.pool, world.stores["audit"], world.signer) is not None
    # The superuser: the trigger refuses.
    with (
        psycopg.connect(world.database_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)
    with psycopg.connect(world.database_url) as conn:  # the service's role: no grant at all
        conn.execute("SET ROLE carnet_audit")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(statement)


def test_the_audit_role_may_read_and_append_but_not_read_other_services(world):
    world.emit_many(4)
    world.ingest_all()
    with psycopg.connect(world.database_url) as conn:
        conn.execute("SET ROLE carnet_audit")
        assert conn.execute("SELECT count(*) FROM audit.ledger").fetchone()[0] == 4
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM booking.events")
    with psycopg.connect(world.database_url) as conn:
        conn.execute("SET ROLE carnet_booking")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM audit.ledger")


def test_checkpoints_extend_the_kept_tree_and_rebuild_one_that_disagrees(world):
    """Each head is the root of the whole ledger; the tree of the last one is extended (not
    every entry hash read again), unless it no longer matches the last signed head."""
    checkpoint_module._TREES.clear()

    def signed_after(n: int):
        world.emit_many(n)
        world.ingest_all()
        made = checkpoint(world.pool, world.stores["audit"], world.signer)
        hashes = [bytes(r["entry_hash"]) for r in rows(world)][: made.tree_size]
        assert made.root_hash == merkle.root(hashes)
        return made

    signed_after(3)
    (kept,) = checkpoint_module._TREES.values()
    for n in (5, 1):
        made = signed_after(n)
        assert list(checkpoint_module._TREES.values()) == [kept] and kept.size == made.tree_size
    size, _root = kept._stack[0]
    kept._stack[0] = (size, b"\x00" * 32)  # the kept tree no longer gives the signed root
    signed_after(2)
    (rebuilt,) = checkpoint_module._TREES.values()
    assert rebuilt is not kept
