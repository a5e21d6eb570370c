"""KeyRing on the real PostgreSQL, as carnet_booking: seal, open, one key per patient, shred.

A blob opened as another patient raises CryptoError when that patient has a key of their own
(the key_id is not theirs, and the AAD binds the patient too); KeyDestroyed is kept for "this
patient's key is gone", including a patient who has no key row at all.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.booking.crypto import (
    CryptoError,
    KeyDestroyed,
    KeyRing,
    MasterKey,
    generate_master_key_b64,
)

NOTE = "Allergic to penicillin; HIV+ since 2019"


# A pool of 25 connections: beside two shards' services it could pass PostgreSQL's 100.
pytestmark = pytest.mark.serial


def as_role(url: str, role: str) -> str:
    """The same database as another role (the server trusts local connections)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{role}@{rest.partition('@')[2]}"


@pytest.fixture(scope="module")
def pool(migrated_database_url: str) -> Iterator[ConnectionPool]:
    """Connections as carnet_booking, so the migration's grants are what is tested."""
    url = as_role(migrated_database_url, "carnet_booking")
    # 20 connections ready up front, so the concurrent seals below really run side by side.
    with ConnectionPool(url, min_size=20, max_size=25) as p:
        p.wait(timeout=30)
        yield p


@pytest.fixture
def ring(pool: ConnectionPool) -> KeyRing:
    return KeyRing(pool, MasterKey.from_b64(generate_master_key_b64()))


class CountingMaster(MasterKey):
    """A real MasterKey that counts wraps: each one is a seal that tried to create the key."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key)
        self.wraps = 0

    def wrap(self, patient_id: uuid.UUID, data_key: bytes) -> bytes:
        self.wraps += 1
        return super().wrap(patient_id, data_key)


def key_rows(url: str, patient_id: uuid.UUID) -> list[tuple]:
    """The patient's key rows as the superuser sees them, bypassing the KeyRing."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT key_id, wrapped_key, destroyed_at FROM booking.patient_keys"
            " WHERE patient_id = %s",
            (patient_id,),
        ).fetchall()


def test_a_sealed_note_opens_for_its_patient(ring: KeyRing) -> None:
    patient = uuid.uuid4()

    blob = ring.seal(patient, NOTE)

    assert blob is not None
    assert set(blob) == {"key_id", "nonce", "ciphertext"}
    assert len(base64.b64decode(blob["nonce"], validate=True)) == 12
    assert ring.open(patient, blob) == NOTE
    assert ring.status(patient) == "active"


def test_none_stays_none(ring: KeyRing) -> None:
    patient = uuid.uuid4()

    assert ring.seal(patient, None) is None
    assert ring.open(patient, None) is None
    assert ring.status(patient) == "none"


def test_the_blob_does_not_contain_the_plaintext(ring: KeyRing) -> None:
    blob = ring.seal(uuid.uuid4(), NOTE)

    assert blob is not None
    raw = base64.b64decode(blob["ciphertext"])
    assert NOTE.encode() not in raw
    assert "penicillin" not in str(blob)


def test_two_seals_use_one_key_and_different_nonces(ring: KeyRing) -> None:
    patient = uuid.uuid4()

    first, second = ring.seal(patient, NOTE), ring.seal(patient, NOTE)

    assert first is not None and second is not None
    assert first["key_id"] == second["key_id"]
    assert first["nonce"] != second["nonce"]
    assert first["ciphertext"] != second["ciphertext"]


def test_a_blob_of_one_patient_does_not_open_as_another(ring: KeyRing) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    blob = ring.seal(alice, NOTE)
    ring.seal(bob, "bob's own note")

    with pytest.raises(CryptoError):
        ring.open(bob, blob)


def test_a_blob_relabelled_with_the_other_patients_key_id_does_not_open(ring: KeyRing) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    blob = ring.seal(alice, NOTE)
    bobs = ring.seal(bob, "bob's own note")
    assert blob is not None and bobs is not None

    with pytest.raises(CryptoError):
        ring.open(bob, {**blob, "key_id": bobs["key_id"]})


def test_a_blob_opened_as_a_patient_without_any_key_is_key_destroyed(ring: KeyRing) -> None:
    blob = ring.seal(uuid.uuid4(), NOTE)

    with pytest.raises(KeyDestroyed):
        ring.open(uuid.uuid4(), blob)


@pytest.mark.parametrize("field", ["nonce", "ciphertext"])
def test_a_tampered_blob_is_a_crypto_error(ring: KeyRing, field: str) -> None:
    patient = uuid.uuid4()
    blob = ring.seal(patient, NOTE)
    assert blob is not None
    raw = bytearray(base64.b64decode(blob[field]))
    raw[0] ^= 0x01

    with pytest.raises(CryptoError):
        ring.open(patient, {**blob, field: base64.b64encode(raw).decode()})
    with pytest.raises(CryptoError):
        ring.open(patient, {**blob, field: "***not base64***"})


def test_another_master_key_cannot_open(ring: KeyRing, pool: ConnectionPool) -> None:
    patient = uuid.uuid4()
    blob = ring.seal(patient, NOTE)
    other = KeyRing(pool, MasterKey.from_b64(generate_master_key_b64()))

    with pytest.raises(CryptoError):
        other.open(patient, blob)


def test_an_opener_opens_many_blobs_of_one_patient(ring: KeyRing) -> None:
    patient = uuid.uuid4()
    blobs = [ring.seal(patient, f"note {i}") for i in range(5)] + [None]

    open_blob = ring.opener(patient)

    assert [open_blob(b) for b in blobs] == [f"note {i}" for i in range(5)] + [None]


def test_concurrent_first_seals_create_exactly_one_key(
    pool: ConnectionPool, migrated_database_url: str
) -> None:
    master = CountingMaster.from_b64(generate_master_key_b64())
    ring = KeyRing(pool, master)
    patient = uuid.uuid4()
    start = threading.Barrier(20)
    blobs: list[dict] = []
    errors: list[BaseException] = []

    def seal(i: int) -> None:
        try:
            start.wait(timeout=10)
            blob = ring.seal(patient, f"note {i}")
            assert blob is not None
            blobs.append(blob)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=seal, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert master.wraps > 1  # several seals raced to create the key...
    rows = key_rows(migrated_database_url, patient)  # ...and one won
    assert len(rows) == 1
    assert {b["key_id"] for b in blobs} == {rows[0][0]}
    open_blob = ring.opener(patient)
    assert sorted(open_blob(b) for b in blobs) == sorted(f"note {i}" for i in range(20))


def test_after_destroy_nothing_opens_nothing_seals_and_the_key_is_gone(
    ring: KeyRing, migrated_database_url: str
) -> None:
    patient = uuid.uuid4()
    earlier = [ring.seal(patient, NOTE), ring.seal(patient, "second note")]
    open_blob = ring.opener(patient)
    assert earlier[0] is not None

    destroyed = ring.destroy(patient)

    assert destroyed == earlier[0]["key_id"]
    for blob in earlier:
        with pytest.raises(KeyDestroyed):
            ring.open(patient, blob)
        with pytest.raises(KeyDestroyed):
            ring.opener(patient)(blob)
    with pytest.raises(KeyDestroyed):
        ring.seal(patient, "a new note")
    assert ring.status(patient) == "destroyed"
    ((key_id, wrapped_key, destroyed_at),) = key_rows(migrated_database_url, patient)
    assert (key_id, wrapped_key) == (destroyed, None)
    assert destroyed_at is not None
    # An opener made before the shred holds the key for its request only: documented, not a leak
    # of the database, which no longer has it.
    assert open_blob(earlier[1]) == "second note"


def test_destroy_is_idempotent(ring: KeyRing, migrated_database_url: str) -> None:
    patient = uuid.uuid4()
    ring.seal(patient, NOTE)

    first = ring.destroy(patient)
    [(_, _, first_destroyed_at)] = key_rows(migrated_database_url, patient)
    second = ring.destroy(patient)

    assert first is not None and second == first
    assert key_rows(migrated_database_url, patient) == [(first, None, first_destroyed_at)]


def test_destroying_a_patient_without_a_key_still_refuses_later_seals(ring: KeyRing) -> None:
    patient = uuid.uuid4()

    assert ring.destroy(patient) is None
    assert ring.destroy(patient) is None
    assert ring.status(patient) == "destroyed"
    with pytest.raises(KeyDestroyed):
        ring.seal(patient, NOTE)


def test_seal_and_destroy_join_the_callers_transaction(
    ring: KeyRing, migrated_database_url: str
) -> None:
    patient = uuid.uuid4()
    url = as_role(migrated_database_url, "carnet_booking")

    with psycopg.connect(url) as conn:
        ring.seal(patient, NOTE, conn=conn)
        conn.rollback()
    assert ring.status(patient) == "none"

    with psycopg.connect(url) as conn:
        blob = ring.seal(patient, NOTE, conn=conn)
        assert ring.status(patient) == "none"  # not committed yet
    assert ring.open(patient, blob) == NOTE

    with psycopg.connect(url) as conn:
        ring.destroy(patient, conn=conn)
        conn.rollback()
    assert ring.open(patient, blob) == NOTE


def test_the_service_role_cannot_delete_or_move_keys(
    ring: KeyRing, migrated_database_url: str
) -> None:
    patient = uuid.uuid4()
    ring.seal(patient, NOTE)
    url = as_role(migrated_database_url, "carnet_booking")

    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM booking.patient_keys WHERE patient_id = %s", (patient,))
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "UPDATE booking.patient_keys SET patient_id = %s WHERE patient_id = %s",
            (uuid.uuid4(), patient),
        )


def test_a_key_cannot_be_half_destroyed(migrated_database_url: str) -> None:
    with (
        psycopg.connect(migrated_database_url) as conn,
        pytest.raises(psycopg.errors.CheckViolation),
    ):
        conn.execute(
            "INSERT INTO booking.patient_keys (patient_id, key_id, wrapped_key, destroyed_at)"
            " VALUES (%s, 'pk-half', NULL, NULL)",
            (uuid.uuid4(),),
        )
