"""`carnet audit verify`: recompute the chain and the signed tree heads, cross-check sources.

Runs as a role that can read every service's schema (an administrator's), inside one
read-only REPEATABLE READ transaction, so every check sees the same instant. Findings name
seq numbers, event ids and field names, never a payload value (personal data).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.canonical import GENESIS_HASH, entry_hash, format_timestamp
from services.audit.crosscheck import cross_check
from services.audit.index_check import check_all
from services.audit.ledger import Connection, iter_entries
from services.audit.merkle import IncrementalTree
from services.audit.signing import ALGORITHM, TreeHead, verify_tree_head
from services.common.config import SERVICES

DEFAULT_MAX_FINDINGS = 1000


@dataclass(frozen=True)
class Finding:
    """One thing wrong; seq is the ledger row it implicates, when there is one.

    A failed tree head cannot point at a row: it gives the range seq..last_seq that must hold
    the first bad one (last_seq is None for findings that point at exactly one row).
    """

    kind: str
    seq: int | None
    event_id: str | None
    detail: str
    last_seq: int | None = None


@dataclass
class VerifyReport:
    """ok only when no check found anything; first_bad_seq is the smallest seq implicated."""

    ok: bool
    ledger_size: int
    entries_checked: int
    checkpoints_checked: int
    first_bad_seq: int | None
    findings: list[Finding]
    sources_checked: dict[str, int] = field(default_factory=dict)
    verified_at: str = ""
    witness: dict[str, Any] | None = None  # with --witness: what the witnessed heads covered

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the CLI and the HTTP endpoint."""
        return asdict(self)


def _chain(
    conn: Connection, findings: list[Finding]
) -> tuple[IncrementalTree, dict[int, bytes], int]:
    """(a) seq gap-free from 1 and (b) every hash recomputed; returns the checkpoints' roots.

    Leaves are the stored entry hashes (what was signed); a row whose recomputed hash differs
    is reported here, and the tree heads then say whether the stored hash was rewritten too.
    """
    tree, roots_at = IncrementalTree(), {}
    sizes = _checkpoint_sizes(conn)
    prev_hash, expected = GENESIS_HASH, 1
    for row in iter_entries(conn):
        seq = row["seq"]
        if seq != expected:
            findings.append(Finding("gap", expected, None, f"seq {expected}..{seq - 1} absent"))
        if bytes(row["prev_hash"]) != prev_hash:
            findings.append(
                Finding(
                    "chain_broken",
                    seq,
                    str(row["event_id"]),
                    "prev_hash is not the previous row's entry_hash",
                )
            )
        if entry_hash(bytes(row["prev_hash"]), row) != bytes(row["entry_hash"]):
            findings.append(
                Finding(
                    "hash_mismatch",
                    seq,
                    str(row["event_id"]),
                    "entry_hash does not match the row's contents",
                )
            )
        prev_hash, expected = bytes(row["entry_hash"]), seq + 1
        tree.append(prev_hash)
        if tree.size in sizes:
            roots_at[tree.size] = tree.root()
    return tree, roots_at, expected - 1


def _checkpoint_sizes(conn: Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute("SELECT DISTINCT tree_size FROM audit.checkpoints")}


def _checkpoints(
    conn: Connection,
    roots_at: Mapping[int, bytes],
    max_seq: int,
    keys: Mapping[str, Ed25519PublicKey],
    findings: list[Finding],
) -> int:
    """(c) each signed head: known key, valid signature, root equal to the recomputed one.

    A head cannot say which of its rows changed, only that one did: its finding names the
    first seq it could be, just after the last head that still holds.
    """
    rows = conn.execute(
        "SELECT checkpoint_id, tree_size, root_hash, signed_at, algorithm, key_id, signature"
        " FROM audit.checkpoints ORDER BY tree_size, signed_at"
    ).fetchall()
    good_size = 0
    for checkpoint_id, size, root, signed_at, algorithm, key_id, signature in rows:
        head = TreeHead(int(size), bytes(root), signed_at, key_id)
        start, where = good_size + 1, f"checkpoint {checkpoint_id} (tree size {size})"
        key = keys.get(key_id)
        if algorithm != ALGORITHM or key is None:
            kind, detail = "checkpoint_unknown_key", f"{algorithm} key {key_id!r} not configured"
        elif not verify_tree_head(key, head, bytes(signature)):
            kind, detail = "checkpoint_bad_signature", "signature invalid"
        elif size > max_seq:
            # Rows cut off the end: the first of them is known exactly.
            findings.append(
                Finding(
                    "checkpoint_beyond_ledger",
                    max_seq + 1,
                    None,
                    f"{where}: the ledger ends at seq {max_seq}",
                )
            )
            continue
        elif roots_at.get(size) != head.root_hash:
            kind, detail = "checkpoint_root_mismatch", "root differs from the recomputed one"
        else:
            good_size = max(good_size, int(size))
            continue
        findings.append(
            Finding(
                kind,
                start,
                None,
                f"{where}: {detail}; first bad row within seq {start}..{size}",
                last_seq=int(size),
            )
        )
    return len(rows)


def verify_ledger(
    conn: Connection,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    services: Sequence[str] = SERVICES,
    grace_seconds: float = 30.0,
    max_findings: int = DEFAULT_MAX_FINDINGS,
    progress: Callable[[str], Any] | None = None,
) -> VerifyReport:
    """Every check, on the caller's connection (ideally in one REPEATABLE READ transaction);
    `progress` hears a line as each of its four stages starts and ends (the CLI's stderr)."""
    say = progress or (lambda _line: None)
    findings: list[Finding] = []
    started = time.monotonic()
    say("verify: recomputing the hash chain")
    tree, roots_at, max_seq = _chain(conn, findings)
    say(f"verify: chain of {tree.size:,} rows in {time.monotonic() - started:.1f} s; "
        "checking the signed heads")  # fmt: skip
    checkpoints = _checkpoints(conn, roots_at, max_seq, keys, findings)
    say(f"verify: {checkpoints:,} signed heads; cross-checking {len(services)} stores")
    mismatches, checked = cross_check(conn, services, grace_seconds, max_findings)
    findings += [Finding(m.kind, m.seq, m.event_id, m.detail) for m in mismatches]
    say("verify: checking the access index against the ledger")
    findings += [Finding(m.kind, m.seq, None, m.detail) for m in check_all(conn, max_findings)]
    say(f"verify: done in {time.monotonic() - started:.1f} s, {len(findings)} finding(s)")
    first_bad = first_bad_seq(findings)
    findings.sort(key=lambda f: (f.seq is None, f.seq or 0, f.kind))
    return VerifyReport(
        ok=not findings,
        ledger_size=max_seq,
        entries_checked=tree.size,
        checkpoints_checked=checkpoints,
        first_bad_seq=first_bad,
        findings=findings[:max_findings],
        sources_checked=checked,
        verified_at=format_timestamp(datetime.now(UTC)) or "",
    )


def first_bad_seq(findings: Sequence[Finding]) -> int | None:
    """The smallest seq pinpointed, or a range's start when nothing pinpointed lies in it."""
    exact = [f.seq for f in findings if f.seq is not None and f.last_seq is None]
    ranges = [
        f.seq
        for f in findings
        if f.seq is not None
        and f.last_seq is not None
        and not any(f.seq <= s <= f.last_seq for s in exact)
    ]
    candidates = exact + ranges
    return min(candidates) if candidates else None


def verify_database(
    database_url: str, keys: Mapping[str, Ed25519PublicKey], **options: Any
) -> VerifyReport:
    """Connect, verify in one read-only snapshot, disconnect."""
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            return verify_ledger(conn, keys, **options)
