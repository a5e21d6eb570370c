"""The witness accepts a head only if it extends the last one it accepted: given the last head
and the ledger's leaves, when a head is offered, then accepted or refused with its kind."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from services.audit.heads import SignedHead, cosignature_holds
from services.audit.leaves import Leaves
from services.audit.merkle import root
from services.audit.signing import ALGORITHM, TreeHead, new_seed, signer_from_config
from services.witness.check import judge
from services.witness.keys import audit_keys_from_env, cosigner_from_env

T0 = datetime(2030, 3, 1, tzinfo=UTC)
AUDIT = signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "audit-1"})
KEYS = {"audit-1": AUDIT.public_key()}
LEAVES = [hashlib.sha256(str(i).encode()).digest() for i in range(40)]
FORKED = [*LEAVES[:5], hashlib.sha256(b"forged").digest(), *LEAVES[6:]]


def head(size, leaves=LEAVES, signer=AUDIT, minutes=0):
    tree = TreeHead(size, root(leaves[:size]), T0 + timedelta(minutes=size + minutes), "audit-1")
    return SignedHead(size, tree.root_hash, tree.timestamp, "audit-1", ALGORITHM, signer.sign(tree))


def kind(offered, last, leaves=LEAVES):
    refusal = judge(offered, last, leaves, KEYS)
    return None if refusal is None else refusal.kind


def test_the_first_head_is_accepted_when_the_ledger_gives_its_root():
    assert kind(head(8), None) is None
    assert kind(head(8, FORKED), None) == "root_mismatch"


def test_a_head_that_extends_the_last_is_accepted():
    assert kind(head(17), head(8)) is None
    assert kind(head(8, minutes=1), head(8)) is None  # the same tree signed again


@pytest.mark.parametrize(
    ("offered", "last", "leaves", "expected"),
    [
        (head(17, FORKED), head(8), FORKED, "fork"),  # signed over a rewritten history
        (head(17), head(12), FORKED, "unprovable"),  # rows under both heads rewritten since
        (head(8, FORKED), head(8), LEAVES, "fork"),  # another root for the same size
        (head(5), head(8), LEAVES, "rollback"),
        (head(17), head(8), LEAVES[:12], "unprovable"),  # rows cut off the ledger
    ],
    ids=["fork-signed", "rows-rewritten-since", "same-size", "rollback", "cut-off"],
)
def test_a_head_that_does_not_extend_the_last_is_refused(offered, last, leaves, expected):
    assert kind(offered, last, leaves) == expected


def test_heads_that_agree_are_accepted_whatever_the_ledger_became():
    """A consistency proof speaks of two heads: from a power-of-two size it needs no old leaf,
    so a later rewrite of the rows is verify --witness's to find, not the witness's."""
    assert kind(head(17), head(8), FORKED) is None


def test_a_head_not_signed_by_the_audit_key_is_refused():
    other = signer_from_config({"AUDIT_SIGNING_KEY": new_seed(), "AUDIT_SIGNING_KEY_ID": "audit-1"})
    assert kind(head(17, signer=other), head(8)) == "bad_signature"
    renamed = dataclasses.replace(head(17), key_id="audit-2")
    assert kind(renamed, head(8)) == "unknown_key"


def test_the_cosignature_binds_the_head_and_the_witness_key():
    cosigner = cosigner_from_env({"WITNESS_SIGNING_KEY": new_seed()})
    cosigned = cosigner.cosign(head(17), T0)
    assert cosigned.cosignature.key_id == "witness-1"
    assert cosignature_holds(cosigned, cosigner.public_key())
    assert not cosignature_holds(dataclasses.replace(cosigned, tree_size=16), cosigner.public_key())
    stranger = cosigner_from_env({"WITNESS_SIGNING_KEY": new_seed()}).public_key()
    assert not cosignature_holds(cosigned, stranger)


def test_the_witness_needs_the_audit_public_key_not_its_private_key():
    with pytest.raises(Exception, match="AUDIT_VERIFY_PUBLIC_KEY is not set"):
        audit_keys_from_env({"AUDIT_SIGNING_KEY": new_seed()})
    with pytest.raises(Exception, match="WITNESS_SIGNING_KEY is not set"):
        cosigner_from_env({})


def test_packed_leaves_read_back_as_stored():
    leaves = Leaves()
    for leaf in LEAVES:
        leaves.append(leaf)
    assert len(leaves) == 40 and list(leaves) == LEAVES and leaves[-1] == LEAVES[-1]
    assert leaves[3:6] == LEAVES[3:6]
    with pytest.raises(IndexError):
        leaves[40]
    with pytest.raises(ValueError):
        leaves.append(b"short")
