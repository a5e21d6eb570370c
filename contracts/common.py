"""Shared vocabulary of every contract: data classes, encrypted blobs, validators, nested policy."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

PRODUCERS = ("identity", "booking", "notification", "audit")
FIELD_CLASSES = ("administrative", "sensitive", "medical")

# Field metadata: the data class of a field travels into the AsyncAPI document as
# `x-data-class`, so an investigator can tell from the contract what a leak exposes.
ADMINISTRATIVE: dict[str, str] = {"data_class": "administrative"}
SENSITIVE: dict[str, str] = {"data_class": "sensitive"}
MEDICAL: dict[str, str] = {"data_class": "medical"}
# A field that names or reaches a person (name, e-mail, phone, birth date): what an erasure
# request must make unreadable everywhere (issue #22). It travels as `x-personal` into the
# AsyncAPI document; tests/contract/test_personal_fields.py keeps the inventory of those still
# stored, published and ledgered in plaintext.
PERSONAL: dict[str, bool] = {"personal": True}
NOT_PERSONAL: dict[str, bool] = {"personal": False}  # named like one, but is not (say why)

_unknown_policy: ContextVar[str | None] = ContextVar("contracts_unknown_policy", default=None)


@contextmanager
def unknown_policy(policy: str) -> Iterator[None]:
    """Apply one unknown-field policy to a whole load, nested objects included."""
    token = _unknown_policy.set(policy)
    try:
        yield
    finally:
        _unknown_policy.reset(token)


class Nested(fields.Nested):
    """A nested object that follows the outer load's unknown policy (marshmallow's does not)."""

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        self._test_collection(value)
        policy = _unknown_policy.get() or self.unknown or RAISE
        try:
            return self.schema.load(value, unknown=policy, partial=partial)
        except ValidationError as error:
            raise ValidationError(error.messages, valid_data=error.valid_data) from error


class Base64(validate.Regexp):
    """Standard base64 text: a Regexp (so JSON Schema gets a pattern) that also decodes."""

    def __init__(self) -> None:
        super().__init__(r"^[A-Za-z0-9+/]*={0,2}$", error="Not valid base64.")

    def __call__(self, value: str) -> str:
        super().__call__(value)
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValidationError(self.error) from error
        return value


class IPAddress(validate.Validator):
    """An IPv4 or IPv6 address as text: access records must name where a read came from."""

    error = "Not a valid IP address."

    def __call__(self, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError as error:
            raise ValidationError(self.error) from error
        return value


class Unique(validate.Validator):
    """No repeated items: a set carried as a list, so counts derived from it are honest."""

    error = "Items must be unique."

    def __call__(self, value: list[Any]) -> list[Any]:
        if len({str(item) for item in value}) != len(value):
            raise ValidationError(self.error)
        return value


SHA256_HEX = validate.Regexp(r"^[0-9a-f]{64}$", error="Not a lowercase hex SHA-256 digest.")


class EncryptedBlobV1(Schema):
    """A medical field sealed with the patient's key: erasing the key erases the field."""

    key_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    nonce = fields.String(required=True, validate=[validate.Length(min=1), Base64()])
    ciphertext = fields.String(required=True, validate=[validate.Length(min=1), Base64()])


def encrypted(**kwargs: Any) -> Nested:
    """A medical field: an encrypted blob, never a plain string in any event."""
    return Nested(EncryptedBlobV1, metadata=MEDICAL, **kwargs)


def field_classes(**kwargs: Any) -> fields.List:
    """A non-empty set of data classes (administrative, sensitive, medical)."""
    return fields.List(
        fields.String(validate=validate.OneOf(FIELD_CLASSES)),
        validate=[validate.Length(min=1), Unique()],
        **kwargs,
    )


def uuid_list(*, min_items: int = 0, max_items: int | None = None, **kwargs: Any) -> fields.List:
    """A set of ids carried as a JSON array of UUID strings."""
    length = validate.Length(min=min_items, max=max_items)
    return fields.List(fields.UUID(), validate=[length, Unique()], **kwargs)
