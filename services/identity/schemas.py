"""Request and response schemas of identity's HTTP API (the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from contracts.identity import GENDERS, LANGUAGES, STAFF_ROLES
from contracts.identity_accounts import ACCOUNT_KINDS
from services.common.http.body import Instant
from services.identity.domain import CONNECTOR_SCOPES, SUSPENSION_REASONS

_PHONE = validate.Regexp(r"^\+?[0-9 ().-]{6,32}$")


def _text(min_length: int = 1, max_length: int = 200, **kwargs: object) -> fields.String:
    return fields.String(validate=validate.Length(min=min_length, max=max_length), **kwargs)


def _password() -> fields.String:
    """Optional at registration; without one the person cannot sign in (yet)."""
    return fields.String(
        load_only=True, load_default=None, validate=validate.Length(min=10, max=200)
    )


class PractitionerIn(Schema):
    """Register a practitioner (display name = given + family name)."""

    given_name = _text(0, required=True)
    family_name = _text(required=True)
    specialty = _text(required=True)
    rpps = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{11}$"))
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=_PHONE)
    password = _password()


class PatientIn(Schema):
    """Register a patient with the contact details notification needs."""

    given_name = _text(0, required=True)
    family_name = _text(max_length=400, required=True)
    birth_date = fields.Date(required=True)
    gender = fields.String(required=True, validate=validate.OneOf(GENDERS))
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True, validate=_PHONE)
    preferred_language = fields.String(load_default="fr", validate=validate.OneOf(LANGUAGES))
    password = _password()


class StaffIn(Schema):
    """Register an admin or an investigator."""

    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    display_name = _text(required=True)
    email = fields.Email(load_default=None, allow_none=True)
    password = _password()


class ConnectorIn(Schema):
    """Register third-party practice software."""

    name = _text(required=True)
    vendor = _text(required=True)
    contact_email = fields.Email(required=True)


class ConnectorCreated(Schema):
    """The only response that ever carries the client secret."""

    connector_id = fields.UUID(required=True)
    client_id = fields.String(required=True)
    client_secret = fields.String(required=True)
    name = fields.String(required=True)
    vendor = fields.String(required=True)
    status = fields.String(required=True)


class GrantIn(Schema):
    """Scopes a practitioner grants a connector on their agenda (replaces any previous grant)."""

    connector_id = fields.UUID(required=True)
    scopes = fields.List(
        fields.String(validate=validate.OneOf(CONNECTOR_SCOPES)),
        required=True,
        validate=validate.Length(min=1, max=3),
    )


class GrantOut(Schema):
    """A grant as it stands."""

    grant_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    scopes = fields.List(fields.String(), required=True)


class SuspendIn(Schema):
    """Why an operator suspends a connector or a person's account."""

    reason = fields.String(
        load_default="operator_request", validate=validate.OneOf(SUSPENSION_REASONS)
    )


class Count(fields.Integer):
    """A whole number, never a boolean (JSON's true is no count); its range is a business
    rule, answered 422 by the use case, so the shape alone is checked here (400)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class QuotaIn(Schema):
    """An operator's read quota for a connector (values out of range: 422)."""

    per_hour = Count(required=True, metadata={"description": "appointments per hour, 1..10^7"})
    burst = Count(required=True, metadata={"description": "at once, 1..per_hour"})
    until = Instant(
        load_default=None,
        allow_none=True,
        metadata={"description": "in the future; absent or null: until changed"},
    )


class QuotaOut(Schema):
    """The operator quota now in force."""

    connector_id = fields.UUID(required=True)
    per_hour = fields.Integer(required=True)
    burst = fields.Integer(required=True)
    until = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True)


class TrustIn(Schema):
    """An operator vouches for a connector for a while (hours out of 1..168: 422)."""

    hours = Count(required=True, metadata={"description": "1..168"})
    reason = _text(max_length=500, required=True)


class TrustOut(Schema):
    """Until when no throttle or suspension follows a finding automatically."""

    connector_id = fields.UUID(required=True)
    trusted_until = fields.String(required=True)


class AccountQuotaOut(Schema):
    """The operator quota now in force on a person's account."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    per_hour = fields.Integer(required=True)
    burst = fields.Integer(required=True)
    until = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True)


class AccountTrustOut(Schema):
    """Until when no throttle or suspension follows a finding on this account automatically."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    trusted_until = fields.String(required=True)


class PasswordIn(Schema):
    """A new password an admin sets for a person (after a reset, or a first one)."""

    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=10, max=200)
    )


class AccountOut(Schema):
    """A person's account after a lifecycle request (never a credential)."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    status = fields.String(required=True)
    changed = fields.Boolean(required=True)
    password_set = fields.Boolean()


class StatusOut(Schema):
    """A connector's status after a lifecycle request."""

    connector_id = fields.UUID(required=True)
    status = fields.String(required=True)
    changed = fields.Boolean(required=True)


class SecretOut(Schema):
    """A rotated secret, shown once."""

    connector_id = fields.UUID(required=True)
    client_id = fields.String(required=True)
    client_secret = fields.String(required=True)


class TokenIn(Schema):
    """POST /oauth/token, form-encoded (RFC 6749 §4.3, §4.4)."""

    grant_type = fields.String(required=True, validate=validate.Length(min=1, max=50))
    client_id = _text(load_default=None)
    client_secret = _text(load_default=None)
    username = _text(max_length=320, load_default=None)
    password = _text(load_default=None)
    scope = _text(max_length=500, load_default=None)


class TokenOut(Schema):
    """RFC 6749 §5.1."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)


class ObjectOut(Schema):
    """A resource as registered (see the matching *Registered event contract)."""
