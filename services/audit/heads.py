"""Signed tree heads as others keep them: read from the ledger, as JSON lines, cosigned.

A head leaves the ledger's database so that someone who controls that database cannot take
it back: the witness keeps a cosigned copy (services/witness/), `carnet audit heads export`
writes them to a file, and `carnet audit verify --witness` compares either with the ledger.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.canonical import canonical_json, format_timestamp
from services.audit.ledger import Connection
from services.audit.signing import ALGORITHM, TreeHead, verify_tree_head

# Domain separation, as for the audit's own signature: a cosignature is never another message.
COSIGNATURE_CONTEXT = b"carnet-witness-cosignature-v1\n"
_HEADS = """
SELECT checkpoint_id, tree_size, root_hash, signed_at, algorithm, key_id, signature
  FROM audit.checkpoints ORDER BY tree_size, signed_at
"""


class HeadFormatError(ValueError):
    """A head that cannot be read at all (not a wrong one: that is a finding)."""


@dataclass(frozen=True)
class Cosignature:
    """A witness's signature over a head it checked: which witness, when."""

    key_id: str
    witnessed_at: datetime
    signature: bytes


@dataclass(frozen=True)
class SignedHead:
    """A tree head with the audit's signature, as checkpoints records it."""

    tree_size: int
    root_hash: bytes
    timestamp: datetime
    key_id: str
    algorithm: str
    signature: bytes
    checkpoint_id: str | None = None
    cosignature: Cosignature | None = None

    def tree_head(self) -> TreeHead:
        """What the audit signed."""
        return TreeHead(self.tree_size, self.root_hash, self.timestamp, self.key_id)

    def problem(self, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
        """Why the audit's signature does not hold with these keys, or None when it does."""
        key = keys.get(self.key_id)
        if self.algorithm != ALGORITHM or key is None:
            return f"{self.algorithm} key {self.key_id!r} not configured"
        if not verify_tree_head(key, self.tree_head(), self.signature):
            return "signature invalid"
        return None

    def same_as(self, other: SignedHead) -> bool:
        """The same signed statement (ids and cosignatures aside)."""
        return (
            self.tree_size,
            self.root_hash,
            self.timestamp,
            self.key_id,
            self.signature,
        ) == (other.tree_size, other.root_hash, other.timestamp, other.key_id, other.signature)

    def to_json(self) -> dict[str, Any]:
        """One JSON line: hashes in hex, signatures in base64, times canonical."""
        line: dict[str, Any] = {
            "checkpoint_id": self.checkpoint_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": format_timestamp(self.timestamp),
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "signature": base64.b64encode(self.signature).decode(),
        }
        if self.cosignature is not None:
            line["witness"] = {
                "key_id": self.cosignature.key_id,
                "witnessed_at": format_timestamp(self.cosignature.witnessed_at),
                "signature": base64.b64encode(self.cosignature.signature).decode(),
            }
        return line


def cosigned_message(head: SignedHead, witness_key_id: str, witnessed_at: datetime) -> bytes:
    """The bytes a witness signs: the head as the audit signed it, who witnessed it and when."""
    return COSIGNATURE_CONTEXT + canonical_json(
        {
            "tree_size": head.tree_size,
            "root_hash": head.root_hash.hex(),
            "timestamp": format_timestamp(head.timestamp),
            "key_id": head.key_id,
            "witness_key_id": witness_key_id,
            "witnessed_at": format_timestamp(witnessed_at),
        }
    )


def cosignature_holds(head: SignedHead, key: Ed25519PublicKey) -> bool:
    """True when the head carries a valid cosignature by this witness key."""
    cosig = head.cosignature
    if cosig is None:
        return False
    try:
        key.verify(cosig.signature, cosigned_message(head, cosig.key_id, cosig.witnessed_at))
    except (InvalidSignature, ValueError):
        return False
    return True


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise HeadFormatError(f"{name} is not a time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise HeadFormatError(f"{name} is not an ISO-8601 time") from exc
    if parsed.tzinfo is None:
        raise HeadFormatError(f"{name} has no offset")
    return parsed


def _b64(value: Any, name: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HeadFormatError(f"{name} is not base64") from exc


def head_from_json(line: Mapping[str, Any]) -> SignedHead:
    """The head of one JSON line; HeadFormatError names the field that cannot be read."""
    try:
        size = line["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise HeadFormatError("tree_size is not a positive integer")
        root = bytes.fromhex(str(line["root_hash"]))
        if len(root) != 32:
            raise HeadFormatError("root_hash is not 32 bytes")
        witness = line.get("witness")
        cosig = None
        if witness is not None:
            cosig = Cosignature(
                str(witness["key_id"]),
                _time(witness["witnessed_at"], "witness.witnessed_at"),
                _b64(witness["signature"], "witness.signature"),
            )
        return SignedHead(
            size,
            root,
            _time(line["timestamp"], "timestamp"),
            str(line["key_id"]),
            str(line.get("algorithm", ALGORITHM)),
            _b64(line["signature"], "signature"),
            line.get("checkpoint_id"),
            cosig,
        )
    except KeyError as exc:
        raise HeadFormatError(f"no {exc.args[0]}") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, HeadFormatError):
            raise
        raise HeadFormatError(str(exc)) from exc


def ledger_heads(conn: Connection) -> list[SignedHead]:
    """Every head in audit.checkpoints, by tree size then time."""
    return [
        SignedHead(int(size), bytes(root), signed_at, key_id, algorithm, bytes(sig), str(cid))
        for cid, size, root, signed_at, algorithm, key_id, sig in conn.execute(_HEADS)
    ]


def write_jsonl(heads: Iterable[SignedHead], path: Path) -> int:
    """Write heads one JSON object per line; how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for head in heads:
            out.write(json.dumps(head.to_json(), sort_keys=True) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[SignedHead]:
    """Heads from a JSON-lines file; OSError or HeadFormatError (with the line) if unreadable."""
    heads = []
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                if not isinstance(line, dict):
                    raise HeadFormatError("not a JSON object")
                heads.append(head_from_json(line))
            except (json.JSONDecodeError, HeadFormatError) as exc:
                raise HeadFormatError(f"{path} line {number}: {exc}") from exc
    return heads
