"""MasterKey: wraps a data key for one patient only, refuses bad keys, never shows its bytes."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from services.booking.crypto import CryptoError, MasterKey, generate_master_key_b64

KEY = os.urandom(32)
ALICE = uuid.uuid4()
BOB = uuid.uuid4()


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.from_b64(base64.b64encode(KEY).decode())


def test_a_wrapped_key_unwraps_for_its_patient(master: MasterKey) -> None:
    data_key = os.urandom(32)

    wrapped = master.wrap(ALICE, data_key)

    assert master.unwrap(ALICE, wrapped) == data_key
    assert data_key not in wrapped


def test_wrapping_twice_uses_fresh_nonces(master: MasterKey) -> None:
    data_key = os.urandom(32)

    assert master.wrap(ALICE, data_key) != master.wrap(ALICE, data_key)


def test_a_wrapped_key_moved_to_another_patient_does_not_unwrap(master: MasterKey) -> None:
    wrapped = master.wrap(ALICE, os.urandom(32))

    with pytest.raises(CryptoError):
        master.unwrap(BOB, wrapped)


def test_another_master_key_cannot_unwrap(master: MasterKey) -> None:
    wrapped = master.wrap(ALICE, os.urandom(32))
    other = MasterKey.from_b64(generate_master_key_b64())

    with pytest.raises(CryptoError):
        other.unwrap(ALICE, wrapped)


@pytest.mark.parametrize("flip", [0, 12, -1])  # in the nonce, the ciphertext, the tag
def test_a_tampered_wrapped_key_does_not_unwrap(master: MasterKey, flip: int) -> None:
    wrapped = bytearray(master.wrap(ALICE, os.urandom(32)))
    wrapped[flip] ^= 0x01

    with pytest.raises(CryptoError):
        master.unwrap(ALICE, bytes(wrapped))


@pytest.mark.parametrize("junk", [b"", b"short", b"x" * 11])
def test_a_truncated_wrapped_key_is_a_crypto_error(master: MasterKey, junk: bytes) -> None:
    with pytest.raises(CryptoError):
        master.unwrap(ALICE, junk)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 at all!",
        base64.b64encode(os.urandom(16)).decode(),
        base64.b64encode(os.urandom(31)).decode(),
        base64.b64encode(os.urandom(33)).decode(),
        base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # url-safe alphabet: not standard
    ],
)
def test_a_master_key_that_is_not_32_bytes_of_base64_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="master key"):
        MasterKey.from_b64(text)


def test_the_refusal_does_not_echo_the_configured_text() -> None:
    text = base64.b64encode(os.urandom(31)).decode()

    with pytest.raises(ValueError) as refused:
        MasterKey.from_b64(text)

    assert text not in str(refused.value)


def test_surrounding_whitespace_of_an_env_value_is_tolerated() -> None:
    text = generate_master_key_b64()

    wrapped = MasterKey.from_b64(text).wrap(ALICE, b"k" * 32)

    assert MasterKey.from_b64(f"  {text}\n").unwrap(ALICE, wrapped) == b"k" * 32


def test_generated_master_keys_are_32_random_bytes() -> None:
    first, second = generate_master_key_b64(), generate_master_key_b64()

    assert len(base64.b64decode(first, validate=True)) == 32
    assert first != second


def test_neither_repr_nor_str_shows_the_key(master: MasterKey) -> None:
    shown = [repr(master), str(master), f"{master}", repr([master])]

    for text in shown:
        assert "redacted" in text
        assert base64.b64encode(KEY).decode() not in text
        assert KEY.hex() not in text
        assert repr(KEY) not in text


def test_the_raw_key_is_not_an_attribute(master: MasterKey) -> None:
    assert not hasattr(master, "__dict__")
    assert all(getattr(master, name, None) != KEY for name in dir(master))
