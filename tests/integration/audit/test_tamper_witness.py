"""Tampering that the ledger alone cannot see, caught by the heads witnessed outside its
database: a deleted head, a rewrite of the rows only it covered, a rolled-back tail, a fork."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
from structlog.testing import capture_logs

from services.audit import ledger, sequencer
from services.audit.checkpoint import checkpoint
from services.audit.heads import SignedHead, ledger_heads, read_jsonl, write_jsonl
from services.audit.witness_check import verify_database_with_witness
from services.common.metrics import WITNESS_HEADS as HEADS
from tests.integration.audit.world import SOURCES, consumed
from tests.support.ledger import tamper, verify
from tests.support.ledger_tamper import build, entries, rewrite
from tests.support.witness import TestWitness


@pytest.fixture
def witness(world):
    w = TestWitness(world)
    yield w
    w.close()


def witnessed(world, witness):
    """24 rows, heads at 8 and 17, both witnessed."""
    build(world)
    result = witness.round()
    assert [h.tree_size for h in result.accepted] == [8, 17] and not result.refused
    return witness.heads()


def verify_with(world, heads, witness_key=None):
    keys = {world.signer.key_id: world.signer.public_key()}
    return verify_database_with_witness(
        world.database_url, keys, heads, witness_key, grace_seconds=0
    )


def kinds(report):
    return {(f.kind, f.seq) for f in report.findings}


def rewrite_everywhere(world, seq):
    """Row `seq` changed in the ledger (it and every later row re-hashed) and in its source
    store alike: neither the chain nor the cross-check can tell."""
    row = entries(world)[seq - 1]
    rewrite(
        world,
        seq,
        lambda r: {**r, "payload": {**r["payload"], "note": "forged"}} if r["seq"] == seq else r,
    )
    events = f'"{row["source_service"]}".events'
    tamper(
        world,
        (
            f'UPDATE {events} SET data = data || \'{{"note": "forged"}}\' WHERE event_id = %s',
            (row["event_id"],),
        ),
    )


def ingest_new(world, count):
    """Emit and ledger `count` new events only (the forged source event no longer decodes
    under its contract, so ingest_all would refuse it as a poison message)."""
    new = {e.event_id for e in world.emit_many(count)}
    for service in SOURCES:
        for event in world.stored(service):
            if event.event_id in new:
                sequencer.ingest(world.pool, ledger.from_consumed(consumed(event, service)))


def delete_head(world, size):
    tamper(world, ("DELETE FROM audit.checkpoints WHERE tree_size >= %s", (size,)))


def test_witnessed_heads_agree_with_an_untouched_ledger(world, witness):
    heads = witnessed(world, witness)
    assert all(h.cosignature and h.cosignature.key_id == witness.cosigner.key_id for h in heads)
    report = verify_with(world, heads, witness.cosigner.public_key())
    assert report.ok, report.findings
    # The bound: rows after the newest witnessed head are not covered by the witness yet.
    assert report.witness == {
        "heads_checked": 2,
        "newest_witnessed_size": 17,
        "rows_not_witnessed": 7,
    }
    assert witness.round().accepted == []  # nothing new: nothing done


def test_the_newest_head_deleted_is_found_by_the_witness(world, witness):
    heads = witnessed(world, witness)
    delete_head(world, 17)
    assert verify(world).ok  # the ledger alone cannot tell
    report = verify_with(world, heads)
    assert kinds(report) == {("checkpoint_deleted", 9)} and report.first_bad_seq == 9
    assert "rows 9..17 still recompute its root" in report.findings[0].detail


def test_a_head_deleted_and_its_rows_rewritten_everywhere_is_found(world, witness):
    heads = witnessed(world, witness)
    rewrite_everywhere(world, 12)
    delete_head(world, 17)
    assert verify(world).ok  # chain, remaining head and sources all agree
    report = verify_with(world, heads)
    assert kinds(report) == {("checkpoint_deleted", 9), ("witness_root_mismatch", 9)}
    assert report.first_bad_seq == 9
    mismatch = next(f for f in report.findings if f.kind == "witness_root_mismatch")
    assert mismatch.last_seq == 17  # the first bad row is within 9..17 (it is 12)


def test_a_forked_history_offered_to_the_witness_is_refused(world, witness):
    witnessed(world, witness)
    rewrite_everywhere(world, 12)
    delete_head(world, 17)
    ingest_new(world, 4)
    fork = checkpoint(world.pool, world.stores["audit"], world.signer)  # a valid signature
    assert fork is not None and fork.tree_size == 28
    before = HEADS.labels("refused", "fork")._value.get()
    with capture_logs() as logs:
        result = witness.round()
    assert result.accepted == [] and [(h.tree_size, r.kind) for h, r in result.refused] == [
        (28, "fork")
    ]
    assert [h.tree_size for h in witness.heads()] == [8, 17]  # the fork was not appended
    assert [(r["tree_size"], r["kind"], r["witnessed_size"]) for r in witness.refusals()] == [
        (28, "fork", 17)
    ]
    refused = [e for e in logs if e["event"] == "witness.head_refused"]
    assert refused and refused[0]["log_level"] == "error" and refused[0]["kind"] == "fork"
    assert HEADS.labels("refused", "fork")._value.get() == before + 1
    assert witness.round().refused == []  # a refusal is recorded once, not every round


def test_a_rolled_back_tail_is_found_and_its_smaller_head_refused(world, witness):
    heads = witnessed(world, witness)
    tamper(world, ("DELETE FROM audit.ledger WHERE seq >= 15", ()))
    delete_head(world, 17)
    alone = verify(world)
    assert {f.kind for f in alone.findings} == {"missing"} and alone.first_bad_seq is None
    report = verify_with(world, heads)
    assert ("witness_beyond_ledger", 15) in kinds(report) and report.first_bad_seq == 15
    smaller = checkpoint(world.pool, world.stores["audit"], world.signer)
    assert smaller is not None and smaller.tree_size == 14
    result = witness.round()
    assert [(h.tree_size, r.kind) for h, r in result.refused] == [(14, "rollback")]


def test_a_rewrite_below_a_witnessed_head_is_refused_even_if_signed_again(world, witness):
    """The audit signs whatever its ledger holds once the heads are gone: the witness's proof
    from the head it kept is what refuses it."""
    witnessed(world, witness)
    rewrite_everywhere(world, 3)
    delete_head(world, 8)
    ingest_new(world, 2)
    resigned = checkpoint(world.pool, world.stores["audit"], world.signer)
    assert resigned is not None and resigned.tree_size == 26
    assert [r.kind for _, r in witness.round().refused] == ["fork"]


def test_an_exported_heads_file_serves_as_the_witness(world, witness, tmp_path):
    build(world)
    with psycopg.connect(world.database_url) as conn:
        write_jsonl(ledger_heads(conn), tmp_path / "heads.jsonl")
    heads = read_jsonl(tmp_path / "heads.jsonl")
    assert [h.tree_size for h in heads] == [8, 17]
    delete_head(world, 17)
    report = verify_with(world, heads)
    assert kinds(report) == {("checkpoint_deleted", 9)}


def test_an_edited_witness_copy_is_named(world, witness):
    heads = witnessed(world, witness)
    moved = dataclasses.replace(heads[1], root_hash=bytes(32))  # the audit never signed this
    report = verify_with(world, [heads[0], moved])
    assert {f.kind for f in report.findings} == {"witness_head_invalid"}
    other = SignedHead(**{**heads[1].__dict__, "cosignature": heads[0].cosignature})
    report = verify_with(world, [heads[0], other], witness.cosigner.public_key())
    assert {f.kind for f in report.findings} == {"witness_cosignature_invalid"}


def test_a_forgery_everywhere_under_a_kept_head_breaks_that_head(world, witness):
    heads = witnessed(world, witness)
    rewrite_everywhere(world, 12)
    alone = verify(world)
    assert kinds(alone) == {("checkpoint_root_mismatch", 9)} and alone.first_bad_seq == 9
    report = verify_with(world, heads)
    assert kinds(report) == {("checkpoint_root_mismatch", 9), ("witness_root_mismatch", 9)}


def test_the_bound_a_forgery_after_the_newest_witnessed_head_is_not_seen(world, witness):
    """What no witnessed head covers yet (here rows 18..24, one checkpoint interval) can be
    rewritten in the ledger and its source alike: nothing outside the database disagrees."""
    heads = witnessed(world, witness)
    rewrite_everywhere(world, 20)
    report = verify_with(world, heads)
    assert report.ok and report.witness["rows_not_witnessed"] == 7
