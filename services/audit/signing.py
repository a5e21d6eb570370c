"""Ed25519 signatures over canonical tree heads; the key comes from configuration only."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.audit.canonical import canonical_json, format_timestamp
from services.common.logging import get_logger

log = get_logger(__name__)

ALGORITHM = "ed25519"
# Domain separation: a signature over a tree head can never be replayed as another message.
TREE_HEAD_CONTEXT = b"carnet-audit-tree-head-v1\n"


class SigningKeyError(RuntimeError):
    """The service cannot sign checkpoints: refuse to start rather than run unverifiable."""


@dataclass(frozen=True)
class TreeHead:
    """What a checkpoint signs: size, root, time and which key."""

    tree_size: int
    root_hash: bytes
    timestamp: datetime
    key_id: str

    def message(self) -> bytes:
        """The signed bytes: a context prefix and the canonical JSON of the head."""
        return TREE_HEAD_CONTEXT + canonical_json(
            {
                "tree_size": self.tree_size,
                "root_hash": self.root_hash.hex(),
                "timestamp": format_timestamp(self.timestamp),
                "key_id": self.key_id,
            }
        )


@dataclass(frozen=True)
class Signer:
    """A private key and its id; ephemeral keys exist only for development."""

    key_id: str
    private_key: Ed25519PrivateKey
    ephemeral: bool = False

    def sign(self, head: TreeHead) -> bytes:
        """Sign a head made with this signer's key id."""
        if head.key_id != self.key_id:
            raise ValueError("tree head names another key")
        return self.private_key.sign(head.message())

    def public_key(self) -> Ed25519PublicKey:
        """The key verify needs."""
        return self.private_key.public_key()


def verify_tree_head(public_key: Ed25519PublicKey, head: TreeHead, signature: bytes) -> bool:
    """True when `signature` is the key's signature of `head`."""
    try:
        public_key.verify(signature, head.message())
    except InvalidSignature:
        return False
    return True


def new_seed() -> str:
    """A fresh base64 Ed25519 seed, for AUDIT_SIGNING_KEY (tests, key rotation)."""
    return base64.b64encode(os.urandom(32)).decode()


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    """Raw 32-byte public key as base64, for AUDIT_VERIFY_PUBLIC_KEY."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _decode32(value: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError(f"{name} is not valid base64") from exc
    if len(raw) != 32:
        raise SigningKeyError(f"{name} must be base64 of 32 bytes, not {len(raw)}")
    return raw


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def signer_from_config(config: Mapping[str, Any]) -> Signer:
    """AUDIT_SIGNING_KEY (base64 seed) and AUDIT_SIGNING_KEY_ID; refuses to go without a key.

    Only AUDIT_DEV_EPHEMERAL_KEY=true allows a throwaway key, and it says so loudly: its
    checkpoints cannot be verified once the process is gone.
    """
    key_id = str(config.get("AUDIT_SIGNING_KEY_ID") or "").strip()
    seed = str(config.get("AUDIT_SIGNING_KEY") or "").strip()
    if seed:
        if not key_id:
            raise SigningKeyError("AUDIT_SIGNING_KEY_ID is empty: name the signing key")
        private = Ed25519PrivateKey.from_private_bytes(_decode32(seed, "AUDIT_SIGNING_KEY"))
        return Signer(key_id, private)
    if _truthy(config.get("AUDIT_DEV_EPHEMERAL_KEY")):
        private = Ed25519PrivateKey.generate()
        key_id = f"ephemeral-{public_key_b64(private.public_key())[:12]}"
        log.warning(
            "audit.signing_key.ephemeral",
            key_id=key_id,
            detail="AUDIT_DEV_EPHEMERAL_KEY=true: checkpoints signed with a throwaway key "
            "cannot be verified after this process exits; never use this outside development",
        )
        return Signer(key_id, private, ephemeral=True)
    raise SigningKeyError(
        "AUDIT_SIGNING_KEY is not set: the audit service signs ledger checkpoints and will "
        "not start without a key (base64 of a 32-byte Ed25519 seed; see docs/audit.md). "
        "For development only, AUDIT_DEV_EPHEMERAL_KEY=true uses a throwaway key."
    )


def verification_keys(
    config: Mapping[str, Any], signer: Signer | None = None
) -> dict[str, Ed25519PublicKey]:
    """key_id -> public key: AUDIT_VERIFY_PUBLIC_KEY if set, else derived from the signer."""
    key_id = str(config.get("AUDIT_SIGNING_KEY_ID") or "").strip()
    public = str(config.get("AUDIT_VERIFY_PUBLIC_KEY") or "").strip()
    if public:
        raw = _decode32(public, "AUDIT_VERIFY_PUBLIC_KEY")
        return {key_id: Ed25519PublicKey.from_public_bytes(raw)}
    if signer is None:
        signer = signer_from_config(config)
    return {signer.key_id: signer.public_key()}
