"""RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs over the ledger's Merkle tree.

Leaves are the ledger rows' entry hashes in seq order (leaf index = seq - 1), as
checkpoint.py builds the tree. A proof lets someone holding only a signed tree head check
that a row is in it (inclusion), or that a later head extends an earlier one without
rewriting it (consistency), with O(log n) hashes and no access to the ledger. Generation
reads every leaf (O(n) hashing); verification needs only the proof.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.audit.merkle import EMPTY_ROOT, leaf_hash, node_hash, split_point


def range_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]), the root of a range of leaves, without copying them."""
    if end == start:
        return EMPTY_ROOT
    if end - start == 1:
        return leaf_hash(leaves[start])
    k = split_point(end - start)
    return node_hash(range_root(leaves, start, start + k), range_root(leaves, start + k, end))


def inclusion_proof(leaves: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]): the audit path of leaf `index` (0-based) in the first
    `tree_size` leaves."""
    if not 0 <= index < tree_size <= len(leaves):
        raise ValueError(f"no leaf {index} in a tree of {tree_size} (of {len(leaves)} leaves)")
    path: list[bytes] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(range_root(leaves, start + k, end))
            end = start + k
        else:
            path.append(range_root(leaves, start, start + k))
            start += k
    path.reverse()  # PATH lists the sibling nearest the leaf first
    return path


def consistency_proof(leaves: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of §2.1.4.1: the nodes that show the tree of `first` leaves is
    a prefix of the tree of `second`; empty when first == second."""
    if not 0 < first <= second <= len(leaves):
        raise ValueError(f"no consistency proof from {first} to {second} ({len(leaves)} leaves)")
    proof: list[bytes] = []
    start, end, m, whole = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(range_root(leaves, start + k, end))
            end = start + k
        else:
            proof.append(range_root(leaves, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append(range_root(leaves, start, end))  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
    proof.reverse()
    return proof


def root_from_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes | None:
    """The root that `proof` leads to from leaf data `leaf` (§2.1.3.2), or None if the proof
    cannot belong to a tree of this size."""
    if not 0 <= index < tree_size:
        return None
    fn, sn, r = index, tree_size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when `leaf` is leaf `index` of the tree of `tree_size` leaves with this root."""
    return root_from_inclusion(index, tree_size, leaf, proof) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when the tree (second, second_root) extends (first, first_root) (§2.1.4.2)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if not path:
        return False
    if first & (first - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0
