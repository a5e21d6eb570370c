"""RFC 9162 inclusion and consistency proofs, against a literal transcription of §2.1.3-2.1.4,
every tree size up to 64, and every way a proof can be wrong."""

import hashlib

import pytest

from services.audit import merkle, proofs

MAX = 64


def mth(d: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 writes it, on list slices."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = largest_power_of_two_below(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


LEAVES = [hashlib.sha256(f"entry {i}".encode()).digest() for i in range(MAX)]
ROOTS = [mth(LEAVES[:n]) for n in range(MAX + 1)]
OTHER = hashlib.sha256(b"not a node").digest()


def test_the_tree_is_the_one_checkpoints_sign():
    assert all(merkle.root(LEAVES[:n]) == ROOTS[n] for n in range(MAX + 1))


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_every_inclusion_proof_is_the_rfc_path_and_verifies(n):
    for m in range(n):
        proof = proofs.inclusion_proof(LEAVES, m, n)
        assert proof == path(m, LEAVES[:n])
        assert proofs.verify_inclusion(m, n, LEAVES[m], proof, ROOTS[n])


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_every_wrong_inclusion_claim_fails(n):
    for m in range(n):
        proof = proofs.inclusion_proof(LEAVES, m, n)
        assert not proofs.verify_inclusion(m, n, OTHER, proof, ROOTS[n])  # another leaf
        assert not proofs.verify_inclusion(m, n, LEAVES[m], proof, OTHER)  # another root
        assert not proofs.verify_inclusion(m, n, LEAVES[m], [*proof, OTHER], ROOTS[n])
        if proof:
            assert not proofs.verify_inclusion(m, n, LEAVES[m], proof[:-1], ROOTS[n])
        for i in range(len(proof)):  # each node changed
            bad = [*proof[:i], OTHER, *proof[i + 1 :]]
            assert not proofs.verify_inclusion(m, n, LEAVES[m], bad, ROOTS[n])
        for other in range(n):  # the proof of one leaf never proves another position
            if other != m:
                assert not proofs.verify_inclusion(other, n, LEAVES[m], proof, ROOTS[n])
        assert not proofs.verify_inclusion(n, n, LEAVES[m], proof, ROOTS[n])


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_every_consistency_proof_is_the_rfc_subproof_and_verifies(n):
    for m in range(1, n + 1):
        proof = proofs.consistency_proof(LEAVES, m, n)
        assert proof == subproof(m, LEAVES[:n], True)
        assert proofs.verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


@pytest.mark.parametrize("n", range(2, MAX + 1))
def test_every_wrong_consistency_claim_fails(n):
    for m in range(1, n):
        proof = proofs.consistency_proof(LEAVES, m, n)
        assert not proofs.verify_consistency(m, n, OTHER, ROOTS[n], proof)
        assert not proofs.verify_consistency(m, n, ROOTS[m], OTHER, proof)
        assert not proofs.verify_consistency(m, n, ROOTS[m], ROOTS[n], [])
        assert not proofs.verify_consistency(m, n, ROOTS[m], ROOTS[n], proof[:-1])
        assert not proofs.verify_consistency(m, n, ROOTS[m], ROOTS[n], [*proof, OTHER])
        for i in range(len(proof)):
            bad = [*proof[:i], OTHER, *proof[i + 1 :]]
            assert not proofs.verify_consistency(m, n, ROOTS[m], ROOTS[n], bad)
        if m < n - 1:  # the proof between other sizes does not fit these
            assert not proofs.verify_consistency(m + 1, n, ROOTS[m + 1], ROOTS[n], proof)


@pytest.mark.parametrize("n", range(2, MAX + 1))
def test_a_history_rewritten_below_the_old_head_is_never_consistent(n):
    for m in range(1, n):
        for changed in (0, m - 1):  # the first and the last leaf the old head covered
            rewritten = list(LEAVES[:n])
            rewritten[changed] = OTHER
            proof = proofs.consistency_proof(rewritten, m, n)
            assert not proofs.verify_consistency(m, n, ROOTS[m], mth(rewritten), proof)


def test_equal_sizes_need_an_empty_proof_and_equal_roots():
    assert proofs.consistency_proof(LEAVES, 5, 5) == []
    assert proofs.verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    assert not proofs.verify_consistency(5, 5, ROOTS[5], OTHER, [])
    assert not proofs.verify_consistency(5, 5, ROOTS[5], ROOTS[5], [OTHER])


def test_out_of_range_requests_are_refused():
    for bad in ((0, 0), (3, 3), (-1, 3), (0, MAX + 1)):
        with pytest.raises(ValueError):
            proofs.inclusion_proof(LEAVES, *bad)
    for bad in ((0, 3), (4, 3), (1, MAX + 1)):
        with pytest.raises(ValueError):
            proofs.consistency_proof(LEAVES, *bad)
    assert not proofs.verify_consistency(0, 3, ROOTS[0], ROOTS[3], [])
