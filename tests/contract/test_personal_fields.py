"""Which event fields name or reach a person, and which of them still travel in plaintext.

Every field of every registered contract (nested ones included) whose name looks like a
person's name, e-mail, phone or birth date must say whether it is personal data (`PERSONAL`
or `NOT_PERSONAL` in its metadata, contracts/common.py). The personal ones not sealed (an
encrypted blob under the subject's key) are the inventory below: what the store, the bus and
the audit ledger hold in plaintext today, and what an erasure request cannot yet make
unreadable (issue #22 empties it). A new personal field in plaintext fails here; so does a
field sealed without the inventory shrinking.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from marshmallow import Schema, fields

import contracts  # noqa: F401  (registers every contract)
from contracts import REGISTRY
from contracts.common import EncryptedBlobV1
from contracts.json_schema import schema_to_json_schema

LOOKS_PERSONAL = re.compile(r"(^|_)(name|given|family|surname|e?mail|phone|mobile|birth|dob)(_|$)")

# (event type, version, field): personal data stored and published in plaintext today.
PLAINTEXT_TODAY = frozenset(
    {
        *(("PatientRegistered", 1, f) for f in ("name", "birth_date", "email", "phone")),
        *(
            ("PatientRegistered", v, f)
            for v in (2, 3)
            for f in ("given_name", "family_name", "birth_date", "email", "phone")
        ),
        *(
            ("PractitionerRegistered", 1, f)
            for f in ("given_name", "family_name", "email", "phone")
        ),
        ("StaffRegistered", 1, "display_name"),
        ("StaffRegistered", 1, "email"),
        ("ConnectorRegistered", 1, "contact_email"),
    }
)


def _schema(field: fields.Field) -> type[Schema] | None:
    """The schema a nested field (or a list of them) holds, else None."""
    inner = field.inner if isinstance(field, fields.List) else field
    if isinstance(inner, fields.Nested):
        nested = inner.schema
        return nested if isinstance(nested, type) else type(nested)
    return None


def walk(schema: type[Schema], prefix: str = "") -> Iterator[tuple[str, fields.Field]]:
    """Every field of a schema, nested ones as `outer.inner`."""
    for name, field in schema._declared_fields.items():
        yield prefix + name, field
        nested = _schema(field)
        if nested is not None and nested is not EncryptedBlobV1:
            yield from walk(nested, f"{prefix}{name}.")


def _sealed(field: fields.Field) -> bool:
    return _schema(field) is EncryptedBlobV1


def test_every_field_named_like_personal_data_says_whether_it_is():
    undecided = [
        f"{c.event_type} v{c.version} {path}"
        for c in REGISTRY.all_contracts()
        for path, field in walk(c.schema)
        if LOOKS_PERSONAL.search(path.rsplit(".", 1)[-1]) and "personal" not in field.metadata
    ]
    assert undecided == [], "tag each with PERSONAL or NOT_PERSONAL (contracts/common.py)"


def test_the_personal_fields_in_plaintext_are_exactly_the_inventory():
    plaintext = {
        (c.event_type, c.version, path)
        for c in REGISTRY.all_contracts()
        for path, field in walk(c.schema)
        if field.metadata.get("personal") and not _sealed(field)
    }
    assert plaintext == PLAINTEXT_TODAY


def test_the_asyncapi_schemas_mark_personal_fields():
    schema = schema_to_json_schema(REGISTRY.contract("PatientRegistered").schema)
    assert schema["properties"]["email"]["x-personal"] is True
    assert "x-personal" not in schema["properties"]["gender"]
