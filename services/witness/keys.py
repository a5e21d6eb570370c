"""The witness's keys, from its environment only: its own Ed25519 key, and the audit's
public key it checks heads with (never the audit's private key)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from services.audit.heads import Cosignature, SignedHead, cosigned_message
from services.audit.signing import SigningKeyError

DEFAULT_WITNESS_KEY_ID = "witness-1"
DEFAULT_AUDIT_KEY_ID = "audit-1"


def _raw32(env: Mapping[str, str], name: str) -> bytes:
    value = (env.get(name) or "").strip()
    if not value:
        raise SigningKeyError(f"{name} is not set")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError(f"{name} is not valid base64") from exc
    if len(raw) != 32:
        raise SigningKeyError(f"{name} must be base64 of 32 bytes, not {len(raw)}")
    return raw


@dataclass(frozen=True)
class Cosigner:
    """The witness's own key: what it signs says "I checked this head extends the last"."""

    key_id: str
    private_key: Ed25519PrivateKey

    def cosign(self, head: SignedHead, at: datetime) -> SignedHead:
        """The head with this witness's cosignature, made at `at`."""
        signature = self.private_key.sign(cosigned_message(head, self.key_id, at))
        return dataclasses.replace(head, cosignature=Cosignature(self.key_id, at, signature))

    def public_key(self) -> Ed25519PublicKey:
        """What verifiers configure as WITNESS_PUBLIC_KEY."""
        return self.private_key.public_key()


def cosigner_from_env(env: Mapping[str, str]) -> Cosigner:
    """WITNESS_SIGNING_KEY (base64 Ed25519 seed) and WITNESS_SIGNING_KEY_ID; no default key."""
    key_id = (env.get("WITNESS_SIGNING_KEY_ID") or DEFAULT_WITNESS_KEY_ID).strip()
    seed = _raw32(env, "WITNESS_SIGNING_KEY")
    return Cosigner(key_id, Ed25519PrivateKey.from_private_bytes(seed))


def audit_keys_from_env(env: Mapping[str, str]) -> dict[str, Ed25519PublicKey]:
    """AUDIT_VERIFY_PUBLIC_KEY under AUDIT_SIGNING_KEY_ID: the key heads must be signed with."""
    key_id = (env.get("AUDIT_SIGNING_KEY_ID") or DEFAULT_AUDIT_KEY_ID).strip()
    return {key_id: Ed25519PublicKey.from_public_bytes(_raw32(env, "AUDIT_VERIFY_PUBLIC_KEY"))}


def witness_public_key_from_env(env: Mapping[str, str]) -> Ed25519PublicKey | None:
    """WITNESS_PUBLIC_KEY, for verifiers that check cosignatures; None when not set."""
    if not (env.get("WITNESS_PUBLIC_KEY") or "").strip():
        return None
    return Ed25519PublicKey.from_public_bytes(_raw32(env, "WITNESS_PUBLIC_KEY"))
