"""`carnet audit prove`: inclusion and consistency proofs read from the ledger, as JSON.

The proof is computed from the stored entry hashes; whoever checks it against a signed head
(and the head's signature with the audit's public key) needs neither the ledger nor Carnet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.audit import proofs
from services.audit.heads import SignedHead, ledger_heads
from services.audit.leaves import read_leaves
from services.audit.ledger import Connection, tail

Progress = Callable[[int, int], Any]  # (leaves read, leaves to read)


def _silent(_done: int, _total: int) -> None:
    """No progress wanted (the HTTP API, tests)."""


class CannotProve(ValueError):
    """The proof asked for does not exist (beyond the ledger, or no signed head covers it)."""


def _head_of_size(heads: list[SignedHead], size: int) -> dict[str, Any] | None:
    """The newest signed head of exactly this size, as JSON, if there is one."""
    found = [h for h in heads if h.tree_size == size]
    return found[-1].to_json() if found else None


def inclusion(
    conn: Connection, seq: int, tree_size: int | None = None, progress: Progress = _silent
) -> dict[str, Any]:
    """The audit path of row `seq` to the tree of `tree_size` rows (default: the newest head)."""
    heads = ledger_heads(conn)
    if tree_size is None:
        if not heads or heads[-1].tree_size < seq:
            raise CannotProve(f"no signed head covers seq {seq} yet: wait for the next checkpoint")
        tree_size = max(h.tree_size for h in heads)
    if not 1 <= seq <= tree_size:
        raise CannotProve(f"seq {seq} is not in a tree of {tree_size} rows")
    leaves = read_leaves(conn, tree_size, progress)
    if len(leaves) < tree_size:
        raise CannotProve(f"the ledger has {len(leaves)} gap-free rows, not {tree_size}")
    return {
        "seq": seq,
        "leaf_index": seq - 1,
        "tree_size": tree_size,
        "entry_hash": leaves[seq - 1].hex(),
        "root_hash": proofs.range_root(leaves, 0, tree_size).hex(),
        "head": _head_of_size(heads, tree_size),
        "proof": [node.hex() for node in proofs.inclusion_proof(leaves, seq - 1, tree_size)],
    }


def consistency(
    conn: Connection, first: int, second: int, progress: Progress = _silent
) -> dict[str, Any]:
    """The proof that the tree of `second` rows extends the tree of `first` rows."""
    if not 1 <= first <= second:
        raise CannotProve("give 1 <= --from <= --to")
    if second > tail(conn):
        raise CannotProve(f"the ledger has {tail(conn)} rows, not {second}")
    leaves = read_leaves(conn, second, progress)
    if len(leaves) < second:
        raise CannotProve(f"the ledger has {len(leaves)} gap-free rows, not {second}")
    heads = ledger_heads(conn)
    return {
        "from": first,
        "to": second,
        "first_root": proofs.range_root(leaves, 0, first).hex(),
        "second_root": proofs.range_root(leaves, 0, second).hex(),
        "first_head": _head_of_size(heads, first),
        "second_head": _head_of_size(heads, second),
        "proof": [node.hex() for node in proofs.consistency_proof(leaves, first, second)],
    }
