"""Per-patient encryption of medical fields: shredding a patient's key erases all their data."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from collections.abc import Callable
from typing import Any, Literal, Self
from uuid import UUID, uuid4

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool

NONCE_BYTES = 12
KEY_BYTES = 32
WRAP_AAD_PREFIX = b"carnet:patient-key:"
# The key_id of a tombstone: a patient erased before any key was made for them.
TOMBSTONE_PREFIX = "none-"

Blob = dict[str, str]
Opener = Callable[[dict[str, Any] | None], str | None]


class KeyDestroyed(Exception):
    """The patient's key was shredded (or is missing): their medical data is gone for good."""


class CryptoError(Exception):
    """The blob is tampered with, undecryptable, or was not sealed for this patient."""


class MasterKey:
    """Wraps patients' data keys; held in memory only, never printed."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)  # the raw bytes are not kept on the object

    @classmethod
    def from_b64(cls, text: str) -> Self:
        """Parse the configured key; the error never echoes the text (it may be a near-key)."""
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the master key is not valid standard base64") from None
        return cls(key)

    def wrap(self, patient_id: UUID, data_key: bytes) -> bytes:
        """nonce || AES-GCM(data_key), bound to the patient so it cannot be moved to another."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, _wrap_aad(patient_id))

    def unwrap(self, patient_id: UUID, wrapped: bytes) -> bytes:
        """The data key, or CryptoError if wrapped for another patient or under another master."""
        try:
            return self._aead.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(patient_id)
            )
        except (InvalidTag, ValueError):
            raise CryptoError(f"cannot unwrap the data key of patient {patient_id}") from None

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"  # str() falls back to this too


class KeyRing:
    """Seals and opens medical fields with per-patient data keys stored wrapped in PostgreSQL."""

    def __init__(self, pool: ConnectionPool, master: MasterKey) -> None:
        self._pool = pool
        self._master = master

    def seal(
        self, patient_id: UUID, plaintext: str | None, conn: psycopg.Connection | None = None
    ) -> Blob | None:
        """An EncryptedBlobV1 dict; in `conn`'s transaction if given, so the key commits with it."""
        if plaintext is None:
            return None
        pid = UUID(str(patient_id))
        with self._connection(conn) as c:
            row = self._key_row(c, pid)
            if row is None:
                # Race-safe get-or-create: concurrent first seals all insert, the primary key
                # keeps one (the losers wait for its commit, then do nothing), and every one of
                # them reads back that winner in a fresh statement.
                key_id = f"pk-{uuid4()}"
                wrapped = self._master.wrap(pid, AESGCM.generate_key(bit_length=256))
                c.execute(
                    "INSERT INTO booking.patient_keys (patient_id, key_id, wrapped_key)"
                    " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (pid, key_id, wrapped),
                )
                row = self._key_row(c, pid)
                if row is None:
                    raise RuntimeError(f"patient key of {pid} neither inserted nor found")
        key_id, wrapped_key = row
        if wrapped_key is None:
            raise KeyDestroyed(f"patient {pid} was erased: no new medical data is sealed")
        nonce = os.urandom(NONCE_BYTES)
        data_key = self._master.unwrap(pid, wrapped_key)
        sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), _aad(pid, key_id))
        return {"key_id": key_id, "nonce": _b64(nonce), "ciphertext": _b64(sealed)}

    def opener(self, patient_id: UUID) -> Opener:
        """Opens many blobs of one patient after one read; keep it for one request, no longer."""
        pid = UUID(str(patient_id))
        with self._pool.connection() as c:
            row = self._key_row(c, pid)
        key_id, wrapped_key = row if row is not None else (None, None)
        aead = None if wrapped_key is None else AESGCM(self._master.unwrap(pid, wrapped_key))

        def open_blob(blob: dict[str, Any] | None) -> str | None:
            if blob is None:
                return None
            if key_id is None:
                raise KeyDestroyed(f"patient {pid} has no key: nothing of theirs can be opened")
            # Checked before destruction: another patient's blob is an error, not an erasure.
            if blob.get("key_id") != key_id:
                raise CryptoError(f"blob was not sealed with the key of patient {pid}")
            if aead is None:
                raise KeyDestroyed(f"the key {key_id} of patient {pid} was shredded")
            try:
                nonce, sealed = _unb64(blob["nonce"]), _unb64(blob["ciphertext"])
                return aead.decrypt(nonce, sealed, _aad(pid, key_id)).decode()
            except (InvalidTag, ValueError, KeyError, TypeError, binascii.Error):
                raise CryptoError(f"blob of patient {pid} failed authentication") from None

        return open_blob

    def open(self, patient_id: UUID, blob: dict[str, Any] | None) -> str | None:
        """The plaintext; KeyDestroyed if shredded, CryptoError if tampered or another's blob."""
        return None if blob is None else self.opener(patient_id)(blob)

    def destroy(self, patient_id: UUID, conn: psycopg.Connection | None = None) -> str | None:
        """Shred the patient's key (idempotent); the key_id shredded, None if there was none."""
        pid = UUID(str(patient_id))
        # One atomic upsert, so a concurrent first seal cannot slip a live key in. A patient
        # without a key gets a tombstone all the same: sealing for them later fails too.
        with self._connection(conn) as c:
            (key_id,) = c.execute(
                "INSERT INTO booking.patient_keys AS k (patient_id, key_id, destroyed_at)"
                " VALUES (%s, %s, now()) ON CONFLICT (patient_id) DO UPDATE"
                " SET wrapped_key = NULL, destroyed_at = coalesce(k.destroyed_at, now())"
                " RETURNING k.key_id",
                (pid, f"{TOMBSTONE_PREFIX}{uuid4()}"),
            ).fetchone()
        return None if key_id.startswith(TOMBSTONE_PREFIX) else str(key_id)

    def status(self, patient_id: UUID) -> Literal["none", "active", "destroyed"]:
        """Whether the patient has no key yet, a usable one, or a shredded one."""
        with self._pool.connection() as c:
            row = self._key_row(c, UUID(str(patient_id)))
        if row is None:
            return "none"
        return "destroyed" if row[1] is None else "active"

    def _connection(self, conn: psycopg.Connection | None) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext(conn) if conn is not None else self._pool.connection()

    @staticmethod
    def _key_row(conn: psycopg.Connection, pid: UUID) -> tuple[str, bytes | None] | None:
        return conn.execute(
            "SELECT key_id, wrapped_key FROM booking.patient_keys WHERE patient_id = %s", (pid,)
        ).fetchone()


def generate_master_key_b64() -> str:
    """A fresh random master key as base64 text, for dev setups and docs."""
    return _b64(AESGCM.generate_key(bit_length=256))


def _wrap_aad(patient_id: UUID) -> bytes:
    return WRAP_AAD_PREFIX + patient_id.bytes


def _aad(pid: UUID, key_id: str) -> bytes:
    return f"{pid}:{key_id}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
