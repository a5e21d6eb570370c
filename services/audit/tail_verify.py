"""The periodic ledger check behind `carnet_audit_ledger_verify_ok{scope="tail"}`.

The full verify (verify.py) recomputes every row and cross-checks every service's store: its
cost grows with the ledger, and it needs read rights on every schema. The service runs this
cheaper one on a timer (`AUDIT_TAIL_VERIFY_SECONDS`), on its own pool, in one read-only
snapshot:

- the newest signed tree head: a configured key, a valid signature, within the ledger;
- every row from that head's last row to the ledger's end: seq without gap, prev_hash equal
  to the previous row's entry_hash, entry_hash recomputed from the row.

Its cost is the rows since the last checkpoint (about `LEDGER_CHECKPOINT_SECONDS` of ingest).
It does not see a row below the newest head rewritten together with its hashes, nor a source
event missing from the ledger: the full verify does (docs/audit.md "Verify").
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.canonical import GENESIS_HASH, entry_hash
from services.audit.ledger import Connection, iter_entries, tail
from services.audit.signing import ALGORITHM, TreeHead, verify_tree_head
from services.audit.verify import Finding, first_bad_seq
from services.common.metrics import LEDGER_VERIFY_OK, LEDGER_VERIFY_TIMESTAMP

_NEWEST_HEAD = """
SELECT checkpoint_id, tree_size, root_hash, signed_at, algorithm, key_id, signature
  FROM audit.checkpoints ORDER BY tree_size DESC, signed_at DESC LIMIT 1
"""
_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


@dataclass(frozen=True)
class TailReport:
    """ok when nothing was found; rows_checked counts from the newest head's last row."""

    ok: bool
    checkpoint_size: int
    ledger_size: int
    rows_checked: int
    first_bad_seq: int | None
    findings: list[Finding] = field(default_factory=list)


def _head_findings(
    conn: Connection, keys: Mapping[str, Ed25519PublicKey], ledger_size: int
) -> tuple[int, list[Finding]]:
    """(the newest head's tree size, 0 if none; what is wrong with that head)."""
    row = conn.execute(_NEWEST_HEAD).fetchone()
    if row is None:
        return 0, []
    checkpoint_id, size, root, signed_at, algorithm, key_id, signature = row
    size, where = int(size), f"checkpoint {checkpoint_id} (tree size {size})"
    key = keys.get(key_id)
    if algorithm != ALGORITHM or key is None:
        kind, detail = "checkpoint_unknown_key", f"{algorithm} key {key_id!r} not configured"
    elif not verify_tree_head(key, TreeHead(size, bytes(root), signed_at, key_id), signature):
        kind, detail = "checkpoint_bad_signature", "signature invalid"
    elif size > ledger_size:
        kind, detail = "checkpoint_beyond_ledger", f"the ledger ends at seq {ledger_size}"
    else:
        return size, []
    return size, [Finding(kind, None, None, f"{where}: {detail}")]


def verify_tail(conn: Connection, keys: Mapping[str, Ed25519PublicKey]) -> TailReport:
    """Every check above, on the caller's connection (in one snapshot: see `run`)."""
    ledger_size = tail(conn)
    head_size, findings = _head_findings(conn, keys, ledger_size)
    expected = max(head_size, 1)  # the head's own last row is recomputed too
    prev: bytes | None = None if head_size else GENESIS_HASH
    checked = 0
    for row in iter_entries(conn, after=expected - 1):
        seq, event_id = row["seq"], str(row["event_id"])
        if seq != expected:
            findings.append(Finding("gap", expected, None, f"seq {expected}..{seq - 1} absent"))
        if prev is not None and bytes(row["prev_hash"]) != prev:
            detail = "prev_hash is not the previous row's entry_hash"
            findings.append(Finding("chain_broken", seq, event_id, detail))
        if entry_hash(bytes(row["prev_hash"]), row) != bytes(row["entry_hash"]):
            detail = "entry_hash does not match the row's contents"
            findings.append(Finding("hash_mismatch", seq, event_id, detail))
        prev, expected, checked = bytes(row["entry_hash"]), seq + 1, checked + 1
    return TailReport(
        ok=not findings,
        checkpoint_size=head_size,
        ledger_size=ledger_size,
        rows_checked=checked,
        first_bad_seq=first_bad_seq(findings),
        findings=findings,
    )


def run(pool: Any, keys: Mapping[str, Ed25519PublicKey]) -> TailReport:
    """verify_tail in one read-only REPEATABLE READ transaction: rows and head of one instant."""
    with pool.connection() as conn, conn.transaction():
        conn.execute(_SNAPSHOT)
        return verify_tail(conn, keys)


def record(scope: str, ok: bool) -> None:
    """Publish a verify's outcome: `carnet_audit_ledger_verify_ok` and its timestamp."""
    LEDGER_VERIFY_OK.labels(scope).set(1 if ok else 0)
    LEDGER_VERIFY_TIMESTAMP.labels(scope).set(time.time())
