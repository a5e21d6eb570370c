"""RFC 9162 §2.1.1 Merkle Tree Hash over the ledger's entry hashes, in seq order.

MTH({}) = SHA-256(); leaf = SHA-256(0x00 || d); node = SHA-256(0x01 || left || right), the
left subtree holding the largest power of two strictly less than n leaves. The 0x00/0x01
prefixes keep a leaf from ever being passed off as an inner node (second pre-image).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    if n < 2:
        raise ValueError("a split needs at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) in O(n) time and O(log n) stack, without copying the leaves."""
    if not leaves:
        return EMPTY_ROOT
    return _subtree(leaves, 0, len(leaves))


def _subtree(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    n = end - start
    if n == 1:
        return leaf_hash(leaves[start])
    k = split_point(n)
    return node_hash(_subtree(leaves, start, start + k), _subtree(leaves, start + k, end))


class IncrementalTree:
    """Leaves appended one by one; root() of every prefix without recomputing from scratch.

    Keeps the roots of the perfect subtrees that the binary digits of n describe (the
    "compact range"). Folding them right to left gives MTH(D[n]): the largest power of two
    below n is exactly the leftmost perfect subtree, so the recursion of §2.1.1 unrolls to it.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, root), sizes decreasing

    def append(self, data: bytes) -> None:
        """Add the next leaf; merge equal-sized subtrees, as a binary counter carries."""
        size, node = 1, leaf_hash(data)
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, node_hash(left, node)
        self._stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves so far, in O(log n)."""
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node
