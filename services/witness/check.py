"""Whether the witness may accept a head: pure, given the last accepted head and the leaves.

A head is accepted only when its audit signature holds and an RFC 9162 consistency proof from
the last accepted head leads to it. The proof is built from the ledger's entry hashes as they
are now and checked against the root the witness kept: a head signed over another history (a
fork) or a smaller tree (a rollback) cannot pass. A proof says the two heads agree, not that
today's rows still do: a ledger rewritten under heads that agree is `carnet audit verify
--witness`'s to find (or this check's, when the rewrite leaves no valid proof to build).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit import proofs
from services.audit.heads import SignedHead
from services.audit.signing import ALGORITHM, verify_tree_head


@dataclass(frozen=True)
class Refusal:
    """Why the witness would not countersign a head (kind is short, detail says more)."""

    kind: str
    detail: str
    witnessed_size: int = 0  # the accepted head it was checked against (0: none yet)


def judge(
    head: SignedHead,
    last: SignedHead | None,
    leaves: Sequence[bytes],
    keys: Mapping[str, Ed25519PublicKey],
) -> Refusal | None:
    """None when `head` extends `last` (or is the first and matches the ledger), else why not."""
    key = keys.get(head.key_id)
    if head.algorithm != ALGORITHM or key is None:
        return Refusal("unknown_key", f"{head.algorithm} key {head.key_id!r} not configured")
    if not verify_tree_head(key, head.tree_head(), head.signature):
        return Refusal("bad_signature", "the audit's signature does not hold")
    size, last_size = head.tree_size, last.tree_size if last else 0
    if last is not None and size < last_size:
        return Refusal("rollback", f"tree size {size} is below the witnessed {last_size}")
    if last is not None and size == last_size:
        if head.root_hash == last.root_hash:
            return None  # the same tree signed again: nothing new, nothing contradicted
        return Refusal("fork", f"another root for the witnessed tree size {size}")
    if size > len(leaves):
        return Refusal("unprovable", f"the ledger holds {len(leaves)} rows, the head {size}")
    if last is None:  # nothing to extend yet: the head must at least be the ledger's tree
        if proofs.range_root(leaves, 0, size) != head.root_hash:
            return Refusal("root_mismatch", "the ledger's rows give another root")
        return None
    proof = proofs.consistency_proof(leaves, last_size, size)
    if proofs.verify_consistency(last_size, size, last.root_hash, head.root_hash, proof):
        return None
    if proofs.range_root(leaves, 0, size) == head.root_hash:
        return Refusal(
            "fork",
            f"this head signs the ledger as it is now, whose first {last_size} rows are not "
            "the ones witnessed",
        )
    return Refusal(
        "unprovable",
        f"the ledger's rows give neither this head's root nor a consistency proof from the "
        f"witnessed tree size {last_size}",
    )
