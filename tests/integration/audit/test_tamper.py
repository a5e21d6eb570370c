"""Tampering as the database superuser, triggers bypassed: verify names the first bad seq."""

from __future__ import annotations

from datetime import timedelta

from services.audit.canonical import entry_hash
from tests.support.ledger import tamper, verify
from tests.support.ledger_tamper import build, entries, insert_sql, kinds, params, rewrite

FORGED = "00000000-0000-4000-8000-00000000f0f0"


def test_a_changed_payload_is_named(world):
    build(world)
    tamper(world, ("UPDATE audit.ledger SET payload = payload || '{\"x\": 1}' WHERE seq = 5", ()))
    report = verify(world)
    assert not report.ok and report.first_bad_seq == 5
    assert {("hash_mismatch", 5), ("altered", 5)} <= kinds(report)
    assert all("x" not in f.detail.split() for f in report.findings)


def test_a_deleted_row_is_named(world):
    build(world)
    tamper(world, ("DELETE FROM audit.ledger WHERE seq = 12", ()))
    report = verify(world)
    assert report.first_bad_seq == 12
    assert {("gap", 12), ("chain_broken", 13)} <= kinds(report)
    assert "missing" in {f.kind for f in report.findings}  # and the source store misses it


def test_a_forged_row_at_the_end_with_a_valid_chain_is_invented(world):
    build(world)
    last = entries(world)[-1]
    forged = {**last, "seq": 25, "event_id": FORGED, "recorded_at": last["recorded_at"]}
    forged["prev_hash"] = bytes(last["entry_hash"])
    forged["entry_hash"] = entry_hash(forged["prev_hash"], forged)
    tamper(world, (insert_sql(), params(forged)))
    report = verify(world)
    assert report.first_bad_seq == 25 and kinds(report) == {("invented", 25)}


def test_a_forged_row_in_the_middle_is_named(world):
    build(world)
    rows = entries(world)
    forged = {**rows[19], "seq": 20, "event_id": FORGED}
    forged["prev_hash"] = bytes(rows[18]["entry_hash"])
    forged["entry_hash"] = entry_hash(forged["prev_hash"], forged)
    tamper(
        world,
        ("UPDATE audit.ledger SET seq = seq + 1000 WHERE seq >= 20", ()),
        ("UPDATE audit.ledger SET seq = seq - 999 WHERE seq >= 1000", ()),
        (insert_sql(), params(forged)),
    )
    report = verify(world)
    assert report.first_bad_seq == 20
    assert {("invented", 20), ("chain_broken", 21)} <= kinds(report)


def test_a_consistent_rewrite_after_the_last_checkpoint_is_caught_by_the_sources(world):
    build(world)

    def change(row):
        if row["seq"] == 20:
            row["payload"] = {**row["payload"], "note": "forged"}
        return row

    rewrite(world, 18, change)
    report = verify(world)
    assert report.first_bad_seq == 20 and kinds(report) == {("altered", 20)}


def test_a_consistent_rewrite_before_the_last_checkpoint_breaks_the_signed_head(world):
    build(world)

    def change(row):
        if row["seq"] == 12:
            row["payload"] = {**row["payload"], "note": "forged"}
        return row

    rewrite(world, 12, change)
    report = verify(world)
    assert report.first_bad_seq == 12
    assert {("altered", 12), ("checkpoint_root_mismatch", 9)} <= kinds(report)


def test_a_rewrite_only_a_signed_head_can_see_is_bounded_by_it(world):
    build(world)

    def change(row):  # recorded_at is the ledger's own: no source store can vouch for it
        if row["seq"] == 9:
            row["recorded_at"] = row["recorded_at"] - timedelta(seconds=1)
        return row

    rewrite(world, 9, change)
    report = verify(world)
    # The head of size 17 fails and the head of size 8 holds: the first bad row is in 9..17.
    assert kinds(report) == {("checkpoint_root_mismatch", 9)}
    assert report.first_bad_seq == 9 and report.findings[0].last_seq == 17


def test_rows_cut_off_the_end_are_named_by_the_head_that_covered_them(world):
    build(world)
    tamper(world, ("DELETE FROM audit.ledger WHERE seq >= 15", ()))
    report = verify(world)
    assert report.first_bad_seq == 15
    assert ("checkpoint_beyond_ledger", 15) in kinds(report)


def test_a_forged_checkpoint_fails_its_signature(world):
    build(world)
    tamper(
        world,
        (
            "UPDATE audit.checkpoints SET signature = decode(repeat('00', 64), 'hex')"
            " WHERE tree_size = 17",
            (),
        ),
    )
    report = verify(world)
    assert ("checkpoint_bad_signature", 9) in kinds(report)


def test_a_checkpoint_under_an_unconfigured_key_is_reported(world):
    build(world)
    report = verify_with_other_key(world)
    assert {f.kind for f in report.findings} == {"checkpoint_unknown_key"}


def verify_with_other_key(world):
    from services.audit.signing import new_seed, signer_from_config
    from services.audit.verify import verify_database

    other = signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "other"})
    return verify_database(world.database_url, {"other": other.public_key()}, grace_seconds=0)


def test_a_source_event_never_ledgered_is_missing_after_the_grace_period(world):
    build(world)
    event = world.emit("booking")
    assert verify(world, grace_seconds=3600).ok
    report = verify(world)
    assert kinds(report) == {("missing", None)} and report.findings[0].event_id == str(
        event.event_id
    )


def test_rows_of_both_hash_schemes_chain_and_a_relabelled_scheme_is_named(world):
    """Rows ledgered before entry format v2 (scheme 1) and after (scheme 2) verify together;
    a row's scheme is protected: relabelling one breaks its hash."""
    world.emit_many(10)
    world.ingest_all()
    assert {r["hash_scheme"] for r in entries(world)} == {2}  # the sequencer writes v2
    rewrite(world, 1, lambda row: row if row["seq"] > 5 else {**row, "hash_scheme": 1})
    assert [r["hash_scheme"] for r in entries(world)] == [1] * 5 + [2] * 5
    assert verify(world).ok
    tamper(world, ("UPDATE audit.ledger SET hash_scheme = 1 WHERE seq = 7", ()))
    report = verify(world)
    assert report.first_bad_seq == 7 and ("hash_mismatch", 7) in kinds(report)
