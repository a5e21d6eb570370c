"""The witness's rounds: read the heads the ledger signed since the last round, judge each
against the last accepted head, keep it cosigned or record the refusal (error log, metric).

It polls audit.checkpoints over a read-only connection rather than consuming
LedgerCheckpointed: the consistency proof needs the ledger's entry hashes either way, so the
ledger is the one source to read, and a witness that was down catches up by itself.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.heads import SignedHead
from services.audit.leaves import Leaves, read_leaves
from services.common.logging import get_logger
from services.common.metrics import WITNESS_HEADS, WITNESS_ROUND_TIMESTAMP, WITNESS_TREE_SIZE
from services.witness import store
from services.witness.check import Refusal, judge
from services.witness.keys import Cosigner

log = get_logger(__name__)


_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('carnet.witness.round', 0))"
_CANDIDATES = """
SELECT checkpoint_id, tree_size, root_hash, signed_at, algorithm, key_id, signature, recorded_at
  FROM audit.checkpoints
 WHERE %(since)s::timestamptz IS NULL OR recorded_at >= %(since)s
 ORDER BY recorded_at, tree_size
 LIMIT %(limit)s
"""


@dataclass
class Round:
    """What one round did; busy when another witness process held the round lock."""

    accepted: list[SignedHead] = field(default_factory=list)
    refused: list[tuple[SignedHead, Refusal]] = field(default_factory=list)
    busy: bool = False


def _candidates(conn: Any, since: datetime | None, limit: int) -> list[tuple[SignedHead, Any]]:
    rows = conn.execute(_CANDIDATES, {"since": since, "limit": limit}).fetchall()
    return [
        (SignedHead(int(n), bytes(root), at, key, alg, bytes(sig), str(cid)), recorded_at)
        for cid, n, root, at, alg, key, sig, recorded_at in rows
    ]


def witness_round(
    witness_url: str,
    ledger_url: str,
    keys: Mapping[str, Ed25519PublicKey],
    cosigner: Cosigner,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int = 500,
) -> Round:
    """One round, in one witness transaction; the ledger is read in one read-only snapshot."""
    result = Round()
    with psycopg.connect(witness_url, connect_timeout=10) as wconn, wconn.transaction():
        if not wconn.execute(_LOCK).fetchone()[0]:
            return Round(busy=True)  # another witness process on this database is at it
        last, since = store.last_head(wconn), store.cursor(wconn)
        with psycopg.connect(ledger_url, connect_timeout=10) as lconn:
            lconn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            lconn.read_only = True
            with lconn.transaction():
                candidates = _candidates(lconn, since, limit)
                known = store.seen(wconn, [h.checkpoint_id for h, _ in candidates])
                candidates = [(h, at) for h, at in candidates if h.checkpoint_id not in known]
                top = max((h.tree_size for h, _ in candidates), default=0)
                leaves = read_leaves(lconn, top) if candidates else Leaves()
        for head, recorded_at in candidates:
            witnessed = last.tree_size if last else 0
            refusal = judge(head, last, leaves, keys)
            if refusal is None:
                last = cosigner.cosign(head, now())
                store.append_head(wconn, last, recorded_at)
                result.accepted.append(last)
            else:
                refusal = dataclasses.replace(refusal, witnessed_size=witnessed)
                store.append_refusal(wconn, head, refusal, recorded_at)
                result.refused.append((head, refusal))
    _report(result, last)
    return result


def _report(result: Round, last: SignedHead | None) -> None:
    """Logs and metrics, once the round is committed."""
    for head in result.accepted:
        WITNESS_HEADS.labels("witnessed", "").inc()
        log.info(
            "witness.head_witnessed",
            tree_size=head.tree_size,
            checkpoint_id=head.checkpoint_id,
            key_id=head.key_id,
        )
    for head, refusal in result.refused:
        WITNESS_HEADS.labels("refused", refusal.kind).inc()
        log.error(
            "witness.head_refused",
            kind=refusal.kind,
            detail=refusal.detail,
            tree_size=head.tree_size,
            witnessed_size=refusal.witnessed_size,
            checkpoint_id=head.checkpoint_id,
            key_id=head.key_id,
        )
    if last is not None:
        WITNESS_TREE_SIZE.set(last.tree_size)
    WITNESS_ROUND_TIMESTAMP.set(time.time())


def run(
    witness_url: str,
    ledger_url: str,
    keys: Mapping[str, Ed25519PublicKey],
    cosigner: Cosigner,
    interval: float,
    stop: threading.Event,
) -> None:
    """Rounds every `interval` seconds until `stop` is set; a database away is waited out."""
    while not stop.is_set():
        try:
            witness_round(witness_url, ledger_url, keys, cosigner)
        except psycopg.OperationalError as exc:
            log.warning("witness.unavailable", error=type(exc).__name__)
        stop.wait(interval)
