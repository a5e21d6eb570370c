"""The ledger against heads kept outside its database: a witness's copy or an exported file.

Someone who controls the ledger's database can delete a checkpoint, rewrite the rows only it
covered (in the source store too), cut the tail or re-sign another history: the ledger alone
then verifies. Heads witnessed before that still name the tree the ledger had, so each one
must (a) carry the audit's valid signature (else the copy itself is not the audit's), (b)
still be in audit.checkpoints, and (c) have its root recomputed from today's rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.canonical import format_timestamp
from services.audit.heads import SignedHead, cosignature_holds, ledger_heads
from services.audit.ledger import Connection
from services.audit.merkle import IncrementalTree
from services.audit.verify import Finding, VerifyReport, first_bad_seq, verify_ledger


def compare_with_witness(
    witnessed: Sequence[SignedHead],
    roots_at: Mapping[int, bytes],
    ledger_size: int,
    ledger_heads: Sequence[SignedHead],
    keys: Mapping[str, Ed25519PublicKey],
    witness_key: Ed25519PublicKey | None = None,
) -> list[Finding]:
    """Findings for every witnessed head the ledger no longer agrees with.

    roots_at must hold the ledger's recomputed root at every witnessed size it reaches. A
    mismatch cannot say which row changed, only that one did after the largest witnessed
    head that still holds: its finding gives that range, as verify does for its own heads.
    """
    findings: list[Finding] = []
    good = below = 0  # largest size that still holds; largest witnessed size below this one
    previous = 0
    for head in sorted(witnessed, key=lambda h: (h.tree_size, h.timestamp)):
        size = head.tree_size
        if size > previous:
            below, previous = previous, size
        where = f"witnessed head of tree size {size} signed {format_timestamp(head.timestamp)}"
        problem = head.problem(keys)
        if problem is not None:
            detail = f"{where}: {problem}; this copy is not what the audit signed"
            findings.append(Finding("witness_head_invalid", None, None, detail))
            continue
        if witness_key is not None and not cosignature_holds(head, witness_key):
            detail = f"{where}: no valid cosignature by the configured witness key"
            findings.append(Finding("witness_cosignature_invalid", None, None, detail))
            continue
        holds = size <= ledger_size and roots_at.get(size) == head.root_hash
        if not any(head.same_as(h) for h in ledger_heads):
            state = "still recompute its root" if holds else "do not recompute its root"
            detail = (
                f"{where}: not in audit.checkpoints (deleted); rows {below + 1}..{size} {state}"
            )
            findings.append(Finding("checkpoint_deleted", below + 1, None, detail, last_seq=size))
        if size > ledger_size:
            detail = f"{where}: the ledger ends at seq {ledger_size} (rolled back)"
            findings.append(Finding("witness_beyond_ledger", ledger_size + 1, None, detail))
        elif not holds:
            detail = (
                f"{where}: the ledger's rows give another root (rewritten or forked); first bad "
                f"row within seq {good + 1}..{size}"
            )
            findings.append(Finding("witness_root_mismatch", good + 1, None, detail, size))
        else:
            good = max(good, size)
    return findings


def roots_at_sizes(conn: Connection, sizes: set[int]) -> dict[int, bytes]:
    """The root of the ledger's stored entry hashes at each of these sizes (one pass)."""
    tree, roots, top = IncrementalTree(), {}, max(sizes, default=0)
    with conn.cursor(name="witnessed_roots") as cur:
        cur.itersize = 10000
        cur.execute("SELECT entry_hash FROM audit.ledger WHERE seq <= %s ORDER BY seq", (top,))
        for (digest,) in cur:
            tree.append(bytes(digest))
            if tree.size in sizes:
                roots[tree.size] = tree.root()
    return roots


def verify_with_witness(
    conn: Connection,
    keys: Mapping[str, Ed25519PublicKey],
    witnessed: Sequence[SignedHead],
    witness_key: Ed25519PublicKey | None = None,
    **options: Any,
) -> VerifyReport:
    """The full verify, then the witnessed heads against it, on one snapshot."""
    report = verify_ledger(conn, keys, **options)
    roots = roots_at_sizes(conn, {h.tree_size for h in witnessed})
    found = compare_with_witness(
        witnessed, roots, report.ledger_size, ledger_heads(conn), keys, witness_key
    )
    findings = sorted([*report.findings, *found], key=lambda f: (f.seq is None, f.seq or 0, f.kind))
    newest = max((h.tree_size for h in witnessed), default=0)
    return dataclasses.replace(
        report,
        ok=not findings,
        findings=findings,
        first_bad_seq=first_bad_seq(findings),
        witness={
            "heads_checked": len(witnessed),
            "newest_witnessed_size": newest,
            # What no witnessed head covers yet: the witness cannot speak for these rows.
            "rows_not_witnessed": max(report.ledger_size - newest, 0),
        },
    )


def verify_database_with_witness(
    database_url: str,
    keys: Mapping[str, Ed25519PublicKey],
    witnessed: Sequence[SignedHead],
    witness_key: Ed25519PublicKey | None = None,
    **options: Any,
) -> VerifyReport:
    """Connect, verify against the witnessed heads in one read-only snapshot, disconnect."""
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            return verify_with_witness(conn, keys, witnessed, witness_key, **options)
