"""Signed checkpoints: the Merkle tree head of the ledger, recorded and published as an event.

The row and the LedgerCheckpointed event commit together, so the relay publishes a copy
outside the ledger's database (DESIGN.md principle 1: no dual write).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from contracts.registry import REGISTRY
from services.audit import merkle
from services.audit.canonical import GENESIS_HASH, entry_hash, format_timestamp
from services.audit.ledger import Connection, iter_entries
from services.audit.signing import ALGORITHM, Signer, TreeHead
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.logging import get_logger

log = get_logger(__name__)

CHECKPOINT_STREAM = "ledger-checkpoints"
CHECKPOINT_EVENT = "LedgerCheckpointed"
# Only one replica checkpoints at a time; the others skip this round rather than wait.
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('carnet.audit.checkpoint', 0))"
_LAST = """
SELECT checkpoint_id, tree_size, root_hash FROM audit.checkpoints
 ORDER BY tree_size DESC, signed_at DESC LIMIT 1
"""
# New entries other than our own LedgerCheckpointed events: without this test, each
# checkpoint's event, once ingested, would call for another checkpoint, forever.
_NEWS = """
SELECT EXISTS (SELECT FROM audit.ledger WHERE seq > %s
                 AND NOT (source_service = 'audit' AND event_type = %s))
"""
_INSERT = """
INSERT INTO audit.checkpoints (checkpoint_id, tree_size, root_hash, signed_at, algorithm,
                               key_id, signature, previous_checkpoint_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""


class LedgerCorrupt(RuntimeError):
    """The rows to be signed do not chain: signing them would bless the tampering."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head as recorded."""

    checkpoint_id: UUID
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    key_id: str
    signature: bytes
    previous_checkpoint_id: UUID | None


def _check_new_rows(conn: Connection, after: int, upto: int, prev_hash: bytes) -> None:
    """Recompute the chain over the rows the last checkpoint did not cover."""
    expected_seq = after + 1
    for row in iter_entries(conn, after=after, upto=upto):
        if row["seq"] != expected_seq or bytes(row["prev_hash"]) != prev_hash:
            raise LedgerCorrupt(f"chain broken at seq {expected_seq}")
        if entry_hash(prev_hash, row) != bytes(row["entry_hash"]):
            raise LedgerCorrupt(f"entry hash mismatch at seq {row['seq']}")
        prev_hash, expected_seq = bytes(row["entry_hash"]), expected_seq + 1
    if expected_seq != upto + 1:
        raise LedgerCorrupt(f"chain broken at seq {expected_seq}")


# The tree of the last checkpoint, per database: the next one reads only the rows added since,
# not every entry hash of the ledger (that grew with the ledger, every 10 s).
_TREES: dict[str, merkle.IncrementalTree] = {}


def _tree_at(conn: Connection, size: int, root: bytes | None) -> merkle.IncrementalTree:
    """The tree of the first `size` entries: the kept one if it extends to the last signed
    head and matches it, else built again from the ledger as it is now."""
    key = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
    tree = _TREES.get(key)
    if tree is not None and tree.size <= size:
        _extend(conn, tree, size)
        if root is None or tree.root() == bytes(root):
            return tree
    tree = merkle.IncrementalTree()
    _extend(conn, tree, size)
    _TREES[key] = tree
    return tree


def _extend(conn: Connection, tree: merkle.IncrementalTree, size: int) -> None:
    """Append the entry hashes of seq tree.size+1 .. size, checking none is missing."""
    start = tree.size
    rows = conn.execute(
        "SELECT entry_hash FROM audit.ledger WHERE seq > %s AND seq <= %s ORDER BY seq",
        (start, size),
    )
    for (digest,) in rows:
        tree.append(bytes(digest))
    if tree.size != size:
        raise LedgerCorrupt(f"{size - tree.size} seq numbers missing in {start + 1}..{size}")


def _entry_hash_at(conn: Connection, seq: int) -> bytes:
    """The entry hash the next row must chain to (the genesis hash before the first)."""
    if seq == 0:
        return GENESIS_HASH
    row = conn.execute("SELECT entry_hash FROM audit.ledger WHERE seq = %s", (seq,)).fetchone()
    if row is None:
        raise LedgerCorrupt(f"seq {seq} is missing")
    return bytes(row[0])


def checkpoint(
    pool: Any,
    store: EventStore,
    signer: Signer,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Checkpoint | None:
    """Sign and record the tree head if the ledger grew; None when there is nothing new.

    One transaction, but a short writing one: everything up to the INSERT only reads, and a
    transaction gets its id (what the relays wait on) at its first write.
    """
    with pool.connection() as conn, conn.transaction():
        if not conn.execute(_TRY_LOCK).fetchone()[0]:
            return None
        last = conn.execute(_LAST).fetchone()
        last_id, last_size, last_root = last if last else (None, 0, None)
        size = int(conn.execute("SELECT coalesce(max(seq), 0) FROM audit.ledger").fetchone()[0])
        if (
            size <= last_size
            or not conn.execute(_NEWS, (last_size, CHECKPOINT_EVENT)).fetchone()[0]
        ):
            return None
        tree = _tree_at(conn, last_size, last_root)
        _check_new_rows(conn, last_size, size, _entry_hash_at(conn, last_size))
        _extend(conn, tree, size)
        head = TreeHead(size, tree.root(), now(), signer.key_id)
        made = Checkpoint(
            uuid.uuid4(),
            size,
            head.root_hash,
            head.timestamp,
            signer.key_id,
            signer.sign(head),
            last_id,
        )
        conn.execute(
            _INSERT,
            (
                made.checkpoint_id,
                size,
                made.root_hash,
                made.signed_at,
                ALGORITHM,
                made.key_id,
                made.signature,
                last_id,
            ),
        )
        store.append_in(conn, CHECKPOINT_STREAM, [_event(made, last_root)], None)
    log.info(
        "ledger.checkpointed",
        checkpoint_id=str(made.checkpoint_id),
        tree_size=size,
        key_id=made.key_id,
    )
    return made


def _event(made: Checkpoint, previous_root: bytes | None) -> NewEvent:
    """LedgerCheckpointed: the signed head, so a copy lives outside this database."""
    data = REGISTRY.dump_payload(
        CHECKPOINT_EVENT,
        {
            "checkpoint_id": str(made.checkpoint_id),
            "ledger_position": made.tree_size,
            "entry_count": made.tree_size,
            "head_hash": made.root_hash.hex(),
            "previous_checkpoint_id": (
                str(made.previous_checkpoint_id) if made.previous_checkpoint_id else None
            ),
            "previous_head_hash": bytes(previous_root).hex() if previous_root else None,
            "algorithm": ALGORITHM,
            "key_id": made.key_id,
            "signature": base64.b64encode(made.signature).decode(),
        },
    )
    # occurred_at = the signed timestamp: the published copy carries all of the signed head.
    metadata = {
        "correlation_id": str(made.checkpoint_id),
        "occurred_at": format_timestamp(made.signed_at),
    }
    return NewEvent(
        uuid.uuid4(), CHECKPOINT_EVENT, REGISTRY.latest_version(CHECKPOINT_EVENT), data, metadata
    )
