"""RFC 9162 §2.1.1 Merkle tree heads, against a literal transcription of the definition."""

import hashlib

import pytest

from services.audit import merkle


def reference_mth(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 writes it: recursion on list slices."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    left, right = reference_mth(leaves[:k]), reference_mth(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def data(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


def test_empty_tree_is_hash_of_nothing():
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


def test_known_small_trees():
    d = data(3)
    h = hashlib.sha256
    leaf = [h(b"\x00" + x).digest() for x in d]
    assert merkle.root(d[:1]) == leaf[0]
    assert merkle.root(d[:2]) == h(b"\x01" + leaf[0] + leaf[1]).digest()
    # n = 3 splits 2 | 1: the odd leaf is promoted, not duplicated (unlike Bitcoin's tree).
    assert merkle.root(d) == h(b"\x01" + h(b"\x01" + leaf[0] + leaf[1]).digest() + leaf[2]).digest()


@pytest.mark.parametrize("n", [*range(1, 70), 127, 128, 129, 1000])
def test_root_matches_the_reference(n):
    assert merkle.root(data(n)) == reference_mth(data(n))


def test_incremental_tree_gives_every_prefix_root():
    leaves, tree = data(300), merkle.IncrementalTree()
    assert tree.root() == merkle.EMPTY_ROOT
    for i, leaf in enumerate(leaves, start=1):
        tree.append(leaf)
        assert tree.size == i
        assert tree.root() == reference_mth(leaves[:i]), i


def test_split_point_is_largest_power_of_two_below_n():
    assert [merkle.split_point(n) for n in (2, 3, 4, 5, 8, 9, 1025)] == [1, 2, 2, 4, 4, 8, 1024]
    with pytest.raises(ValueError):
        merkle.split_point(1)


def test_leaf_and_node_are_domain_separated():
    a, b = data(2)
    assert merkle.leaf_hash(a + b) != merkle.node_hash(a, b)
    assert merkle.root([a, b]) != merkle.root([b, a])
