"""Secrets at rest: argon2id for what people choose or we hand out once, SHA-256 for tokens."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# RFC 9106's second recommended profile (64 MiB, 3 passes): argon2-cffi's defaults, argon2id.
_HASHER = PasswordHasher()


def hash_secret(secret: str) -> str:
    """An argon2id hash (`$argon2id$...`); slow on purpose, so never call it in a transaction."""
    return _HASHER.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """True when `secret` matches; an unknown principal still pays one hash (no timing oracle)."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), secret) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_client_secret() -> str:
    """A client secret shown once: 256 random bits."""
    return secrets.token_urlsafe(32)


def new_token() -> str:
    """An access token: 256 random bits, so a plain SHA-256 of it cannot be brute-forced."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What identity.tokens stores and looks up: SHA-256 of the token's UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@cache
def _dummy_hash() -> str:
    """A hash no secret matches, made on first use (nothing slow at import time)."""
    return _HASHER.hash(secrets.token_urlsafe(16))
