"""`carnet audit export-bundle`: a window of the ledger that an outside party can check alone.

The bundle holds the window's rows as stored (with their hash scheme), the signed heads that
cover them, an inclusion proof of each row to a head, a consistency proof between successive
heads, and the public keys. `python -m carnet_verify` (no database, no Carnet code) checks it
all; docs/audit.md "Export bundles" gives the format and the procedure.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.audit import proofs
from services.audit.canonical import ENTRY_FIELDS, format_timestamp
from services.audit.heads import SignedHead, ledger_heads
from services.audit.leaves import read_leaves
from services.audit.ledger import Connection, iter_entries
from services.audit.prover import CannotProve
from services.audit.signing import ALGORITHM

FORMAT = "carnet-audit-bundle/1"
_BOUNDS = """
SELECT min(seq), max(seq) FROM audit.ledger WHERE recorded_at >= %s AND recorded_at < %s
"""


def entry_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger row as stored, in JSON: the protected fields as the hash saw them (uuid as
    text, times canonical), its scheme, and both hashes in hex."""
    entry = {f: row[f] for f in ENTRY_FIELDS}
    entry["event_id"] = str(entry["event_id"])
    entry["occurred_at"] = format_timestamp(entry["occurred_at"])
    entry["recorded_at"] = format_timestamp(entry["recorded_at"])
    entry["hash_scheme"] = row.get("hash_scheme", 1)
    entry["prev_hash"] = bytes(row["prev_hash"]).hex()
    entry["entry_hash"] = bytes(row["entry_hash"]).hex()
    return entry


def key_json(key_id: str, key: Ed25519PublicKey) -> dict[str, str]:
    """A public key as a verifier configures it: raw 32 bytes, base64."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"key_id": key_id, "algorithm": ALGORITHM, "public_key": base64.b64encode(raw).decode()}


def covering_heads(heads: Sequence[SignedHead], first: int, last: int) -> list[SignedHead]:
    """The heads of sizes first..last and the first one at or past last (the newest of each
    size): every row of the window is in one, and successive ones are proved consistent."""
    by_size: dict[int, SignedHead] = {}
    for head in sorted(heads, key=lambda h: (h.tree_size, h.timestamp)):
        by_size[head.tree_size] = head
    chosen = []
    for size in sorted(by_size):
        if size >= first:
            chosen.append(by_size[size])
            if size >= last:
                break
    return chosen


def assemble(
    rows: Sequence[Mapping[str, Any]],
    heads: Sequence[SignedHead],
    leaves: Sequence[bytes],
    keys: Mapping[str, Ed25519PublicKey],
    window: Mapping[str, Any],
) -> dict[str, Any]:
    """The bundle of these rows under these heads (pure: leaves reach the largest head)."""
    sizes = [h.tree_size for h in heads]
    inclusion = []
    for row in rows:
        size = next((s for s in sizes if s >= row["seq"]), None)
        if size is None:
            raise CannotProve(f"no head in the bundle covers seq {row['seq']}")
        path = proofs.inclusion_proof(leaves, row["seq"] - 1, size)
        inclusion.append({"seq": row["seq"], "tree_size": size, "proof": [p.hex() for p in path]})
    consistency = [
        {"from": a, "to": b, "proof": [p.hex() for p in proofs.consistency_proof(leaves, a, b)]}
        for a, b in itertools.pairwise(sizes)
    ]
    return {
        "format": FORMAT,
        "created_at": format_timestamp(datetime.now(UTC)),
        "window": dict(window),
        "keys": [key_json(k, v) for k, v in sorted(keys.items())],
        "entries": [entry_json(r) for r in rows],
        "heads": [h.to_json() for h in heads],
        "inclusion": inclusion,
        "consistency": consistency,
    }


def export_bundle(
    conn: Connection,
    start: datetime,
    end: datetime,
    keys: Mapping[str, Ed25519PublicKey],
    progress: Callable[[int, int], Any] = lambda _done, _total: None,
) -> tuple[dict[str, Any], int]:
    """The bundle of rows recorded in [start, end), and how many of those were left out
    because no signed head covers them yet (at most one checkpoint interval's worth)."""
    first, last = conn.execute(_BOUNDS, (start, end)).fetchone()
    if first is None:
        raise CannotProve("no ledger row was recorded in the window")
    heads = ledger_heads(conn)
    newest = max((h.tree_size for h in heads), default=0)
    if newest < first:
        raise CannotProve(f"no signed head covers seq {first} yet: wait for the next checkpoint")
    left_out, last = max(last - newest, 0), min(last, newest)
    chosen = covering_heads(heads, first, last)
    leaves = read_leaves(conn, chosen[-1].tree_size, progress)
    if len(leaves) < chosen[-1].tree_size:
        raise CannotProve(f"seq {len(leaves) + 1} is missing: run carnet audit verify")
    rows = list(iter_entries(conn, after=first - 1, upto=last))
    window = {
        "from": format_timestamp(start),
        "to": format_timestamp(end),
        "first_seq": first,
        "last_seq": last,
    }
    return assemble(rows, chosen, leaves, keys, window), left_out
