"""The canonical encoding: one byte string per value, whatever the key order or timezone."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.audit.canonical import (
    GENESIS_HASH,
    canonical_json,
    entry_document,
    entry_hash,
    format_timestamp,
    jcs,
)

EVENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def entry(**changes):
    base = {
        "seq": 1,
        "event_id": EVENT_ID,
        "source_service": "booking",
        "source_position": 7,
        "stream_id": "appointment-1",
        "stream_version": 1,
        "event_type": "AppointmentBooked",
        "schema_version": 1,
        "payload": {"b": 1, "a": "é", "reason": {"ciphertext": "AAAA"}},
        "metadata": {"correlation_id": "c-1", "causation_id": None},
        "occurred_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "recorded_at": datetime(2025, 1, 2, 3, 4, 6, 123, tzinfo=UTC),
    }
    return {**base, **changes}


def test_sorted_keys_no_whitespace_utf8():
    assert canonical_json({"b": [1, 2], "a": "é"}) == '{"a":"é","b":[1,2]}'.encode()


def test_key_order_does_not_change_the_bytes():
    assert canonical_json({"x": 1, "y": {"b": 2, "a": 1}}) == canonical_json(
        {"y": {"a": 1, "b": 2}, "x": 1}
    )


def test_timestamps_are_utc_with_microseconds():
    paris = timezone(timedelta(hours=1))
    assert format_timestamp(datetime(2025, 1, 1, 13, 0, tzinfo=paris)) == (
        "2025-01-01T12:00:00.000000Z"
    )
    assert format_timestamp(None) is None
    with pytest.raises(ValueError):
        format_timestamp(datetime(2025, 1, 1))


def test_nan_and_unknown_types_are_refused():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})


def test_entry_hash_is_sha256_of_prev_and_canonical_entry():
    doc = entry_document(entry())
    assert doc["event_id"] == str(EVENT_ID)
    assert doc["recorded_at"] == "2025-01-02T03:04:06.000123Z"
    expected = hashlib.sha256(GENESIS_HASH + canonical_json(doc)).digest()
    assert entry_hash(GENESIS_HASH, entry()) == expected


def test_every_protected_field_changes_the_hash():
    base = entry_hash(GENESIS_HASH, entry())
    changes = {
        "seq": 2,
        "event_id": uuid.uuid4(),
        "source_service": "identity",
        "source_position": 8,
        "stream_id": "appointment-2",
        "stream_version": 2,
        "event_type": "AppointmentCancelled",
        "schema_version": 2,
        "payload": {"b": 2, "a": "é", "reason": {"ciphertext": "AAAA"}},
        "metadata": {"correlation_id": "c-2", "causation_id": None},
        "occurred_at": None,
        "recorded_at": datetime(2025, 1, 2, 3, 4, 6, 124, tzinfo=UTC),
    }
    for name, value in changes.items():
        assert entry_hash(GENESIS_HASH, entry(**{name: value})) != base, name
    assert entry_hash(bytes([1]) * 32, entry()) != base


def test_same_instant_in_another_timezone_hashes_the_same():
    paris = timezone(timedelta(hours=2))
    moved = entry(recorded_at=datetime(2025, 1, 2, 5, 4, 6, 123, tzinfo=paris))
    assert entry_hash(GENESIS_HASH, moved) == entry_hash(GENESIS_HASH, entry())


def test_a_missing_field_or_short_prev_hash_is_refused():
    incomplete = entry()
    del incomplete["payload"]
    with pytest.raises(KeyError):
        entry_hash(GENESIS_HASH, incomplete)
    with pytest.raises(ValueError):
        entry_hash(b"short", entry())


# --- entry format v2: RFC 8785 (#20) --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [  # RFC 8785 §3.2.2.3 number serialisation and §3.2.3 key order (UTF-16 code units)
        ({"n": [1.0, 1e21, 1e-7, 0.1, -0.0]}, b'{"n":[1,1e+21,1e-7,0.1,0]}'),
        ({"\u20ac": 1, "\r": 2, "a": 3}, '{"\\r":2,"a":3,"\u20ac":1}'.encode()),
        ({"s": "\u2028 é \x1f"}, '{"s":"\u2028 é \\u001f"}'.encode()),
    ],
)
def test_jcs_is_rfc8785(value, expected):
    assert jcs(value) == expected


def test_scheme_2_hashes_the_jcs_document_with_its_scheme_in_it():
    row = entry(hash_scheme=2, payload={"ratio": 2.0, "text": "é"})
    doc = entry_document(row)
    assert doc["hash_scheme"] == 2
    expected = hashlib.sha256(GENESIS_HASH + jcs(doc)).digest()
    assert entry_hash(GENESIS_HASH, row) == expected
    assert entry_hash(GENESIS_HASH, {**row, "hash_scheme": 1}) != expected  # the scheme is bound


def test_scheme_1_rows_hash_as_they_always_did():
    doc = entry_document(entry())
    assert "hash_scheme" not in doc
    assert entry_hash(GENESIS_HASH, entry(hash_scheme=1)) == entry_hash(GENESIS_HASH, entry())
    with pytest.raises(ValueError, match="unknown hash scheme"):
        entry_hash(GENESIS_HASH, entry(hash_scheme=9))
