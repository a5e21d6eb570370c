"""The periodic tail check on a real ledger: what it verifies, what it finds, what it leaves out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.audit.checkpoint import checkpoint
from services.audit.signing import new_seed, signer_from_config
from services.audit.tail_verify import run
from tests.integration.audit.world import World
from tests.support.ledger import tamper


@pytest.fixture
def world(fresh_migrated_database_url: str) -> Iterator[World]:
    w = World(fresh_migrated_database_url)
    # 8 entries under a signed head (its LedgerCheckpointed is entry 9), then 3 more.
    w.emit_many(8)
    w.ingest_all()
    assert checkpoint(w.pool, w.stores["audit"], w.signer)
    w.emit_many(3)
    w.ingest_all()
    yield w
    w.close()


def keys(world: World) -> dict:
    return {world.signer.key_id: world.signer.public_key()}


def test_an_intact_ledger_passes_from_the_newest_head_to_the_end(world):
    report = run(world.pool, keys(world))
    assert report.ok, report.findings
    assert (report.checkpoint_size, report.ledger_size) == (8, 12)
    assert report.rows_checked == 5  # seq 8 (the head's last row) to 12


def test_a_changed_row_after_the_head_is_a_hash_mismatch(world):
    tamper(world, ("UPDATE audit.ledger SET event_type = 'Forged' WHERE seq = 10", None))
    report = run(world.pool, keys(world))
    assert not report.ok and report.first_bad_seq == 10
    assert [(f.kind, f.seq) for f in report.findings] == [("hash_mismatch", 10)]


def test_a_deleted_row_after_the_head_is_a_gap_and_breaks_the_chain(world):
    tamper(world, ("DELETE FROM audit.ledger WHERE seq = 11", None))
    report = run(world.pool, keys(world))
    assert {(f.kind, f.seq) for f in report.findings} == {("gap", 11), ("chain_broken", 12)}


def test_a_head_signed_by_an_unknown_key_fails(world):
    other = signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "other"})
    report = run(world.pool, {other.key_id: other.public_key()})
    assert [f.kind for f in report.findings] == ["checkpoint_unknown_key"]
    forged = {world.signer.key_id: other.public_key()}  # the right id, the wrong key
    assert [f.kind for f in run(world.pool, forged).findings] == ["checkpoint_bad_signature"]


def test_rows_below_the_head_are_left_to_the_full_verify(world):
    """The documented limit: a row the newest head covers is not recomputed here."""
    tamper(world, ("UPDATE audit.ledger SET event_type = 'Forged' WHERE seq = 3", None))
    assert run(world.pool, keys(world)).ok
