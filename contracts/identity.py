"""Events of the identity service: who exists, who may connect, who got in and who did not."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from contracts.common import (
    ADMINISTRATIVE,
    FIELD_CLASSES,
    NOT_PERSONAL,
    PERSONAL,
    SENSITIVE,
    IPAddress,
    Unique,
)
from contracts.common import field_classes as field_classes_field
from contracts.registry import REGISTRY

SERVICE = "identity"
EXCHANGE = f"{SERVICE}.events"

GENDERS = ("male", "female", "other", "unknown")  # FHIR AdministrativeGender
OPERATIONS = ("read", "write")
GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")
AUTH_FAILURE_REASONS = (
    "unknown_client",
    "invalid_secret",
    "connector_suspended",
    "expired_credentials",
    "invalid_grant",
    "invalid_scope",
    "invalid_token",
)


def _name(min_length: int = 0, max_length: int = 200) -> fields.String:
    """A person's name part: administrative, personal data, required (possibly empty)."""
    return fields.String(
        required=True,
        validate=validate.Length(min=min_length, max=max_length),
        metadata={**ADMINISTRATIVE, **PERSONAL},
    )


def _contact_email() -> fields.Email:
    """An e-mail address, or null when the person gave none."""
    return fields.Email(required=True, allow_none=True, metadata={**ADMINISTRATIVE, **PERSONAL})


def _contact_phone() -> fields.String:
    """An E.164-ish phone number, or null when the person gave none."""
    return fields.String(
        required=True,
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 ().-]{6,32}$"),
        metadata={**ADMINISTRATIVE, **PERSONAL},
    )


@REGISTRY.event(SERVICE, "PractitionerRegistered", 1, "practitioner.registered")
class PractitionerRegisteredV1(Schema):
    """A practitioner exists; the specialty is sensitive (it can reveal a patient's condition)."""

    practitioner_id = fields.UUID(required=True)
    rpps = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^\d{11}$"))
    given_name = _name()
    family_name = _name(min_length=1)
    specialty = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata=SENSITIVE
    )
    email = _contact_email()
    phone = _contact_phone()


@REGISTRY.event(SERVICE, "PatientRegistered", 1, "patient.registered")
class PatientRegisteredV1(Schema):
    """Superseded by V2: one free-text name could not be sorted or matched on family name."""

    patient_id = fields.UUID(required=True)
    name = _name(min_length=1, max_length=400)
    birth_date = fields.Date(required=True, metadata={**ADMINISTRATIVE, **PERSONAL})
    gender = fields.String(required=True, validate=validate.OneOf(GENDERS), metadata=ADMINISTRATIVE)
    email = _contact_email()
    phone = _contact_phone()


@REGISTRY.event(SERVICE, "PatientRegistered", 2, "patient.registered")
class PatientRegisteredV2(Schema):
    """A patient exists, with a FHIR-style split name (given, family)."""

    patient_id = fields.UUID(required=True)
    given_name = _name()
    family_name = _name(min_length=1, max_length=400)
    birth_date = fields.Date(required=True, metadata={**ADMINISTRATIVE, **PERSONAL})
    gender = fields.String(required=True, validate=validate.OneOf(GENDERS), metadata=ADMINISTRATIVE)
    email = _contact_email()
    phone = _contact_phone()


@REGISTRY.upcaster("PatientRegistered", from_version=1)
def patient_registered_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Split `name` on its last space: "Test Patient" -> given "Test", family "Patient"."""
    data = dict(payload)
    name = data.pop("name")
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    given, _, family = name.strip().rpartition(" ")
    data["given_name"] = given.strip()
    data["family_name"] = family
    return data


LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


@REGISTRY.event(SERVICE, "PatientRegistered", 3, "patient.registered")
class PatientRegisteredV3(PatientRegisteredV2):
    """V2 plus the language the patient wants to be written to in (notification needs it)."""

    preferred_language = fields.String(
        required=True, validate=validate.OneOf(LANGUAGES), metadata=ADMINISTRATIVE
    )


@REGISTRY.upcaster("PatientRegistered", from_version=2)
def patient_registered_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """Patients registered before V3 chose no language: the platform's default (French)."""
    return {**payload, "preferred_language": payload.get("preferred_language", DEFAULT_LANGUAGE)}


@REGISTRY.event(SERVICE, "ConnectorRegistered", 1, "connector.registered")
class ConnectorRegisteredV1(Schema):
    """Third-party practice software may now ask for grants; its secret never leaves identity."""

    connector_id = fields.UUID(required=True)
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    # The software's name, not a person's.
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata=NOT_PERSONAL
    )
    vendor = fields.String(required=True, validate=validate.Length(min=1, max=200))
    contact_email = fields.Email(required=True, metadata=PERSONAL)  # often a person's
    registered_by = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "ConnectorAuthorized", 1, "connector.authorized")
class ConnectorAuthorizedV1(Schema):
    """A practitioner granted a connector access to their agenda, limited by data class."""

    grant_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    operations = fields.List(
        fields.String(validate=validate.OneOf(OPERATIONS)),
        required=True,
        validate=[validate.Length(min=1), Unique()],
    )
    field_classes = field_classes_field(required=True)
    granted_by = fields.UUID(required=True)
    expires_at = fields.AwareDateTime(required=True, allow_none=True)


@REGISTRY.event(SERVICE, "TokenIssued", 1, "token.issued")
class TokenIssuedV1(Schema):
    """An access token exists (by id only: the token itself is never in an event)."""

    token_id = fields.UUID(required=True)
    principal_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)
    grant_type = fields.String(required=True, validate=validate.OneOf(GRANT_TYPES))
    scopes = fields.List(fields.String(validate=validate.Length(min=1)), required=True)
    field_classes = field_classes_field(required=True)
    expires_at = fields.AwareDateTime(required=True)
    network_address = fields.String(required=True, validate=IPAddress())


@REGISTRY.event(SERVICE, "AuthenticationFailed", 1, "authentication.failed")
class AuthenticationFailedV1(Schema):
    """A refused log-in, for detection; it names the claimed client, never any secret."""

    attempt_id = fields.UUID(required=True)
    client_id = fields.String(required=True, allow_none=True, validate=validate.Length(max=200))
    connector_id = fields.UUID(required=True, allow_none=True)
    reason = fields.String(required=True, validate=validate.OneOf(AUTH_FAILURE_REASONS))
    network_address = fields.String(required=True, validate=IPAddress())
    request_id = fields.String(required=True, validate=validate.Length(min=1, max=200))


@REGISTRY.event(SERVICE, "ConnectorSuspended", 1, "connector.suspended")
class ConnectorSuspendedV1(Schema):
    """A connector may no longer read: its tokens are revoked and caches must drop it."""

    connector_id = fields.UUID(required=True)
    reason = fields.String(
        required=True,
        validate=validate.OneOf(("suspicious_access", "operator_request", "contract_ended")),
    )
    suspended_by = fields.UUID(required=True, allow_none=True)
    detection_id = fields.UUID(required=True, allow_none=True)
    revoked_token_ids = fields.List(fields.UUID(), required=True, validate=Unique())


STAFF_ROLES = ("admin", "investigator")
PRINCIPAL_KINDS = ("connector", "practitioner", "patient", "staff", "service")
GRANT_TYPES_V2 = (*GRANT_TYPES, "password")


@REGISTRY.event(SERVICE, "StaffRegistered", 1, "staff.registered")
class StaffRegisteredV1(Schema):
    """A platform staff member exists with one role; audit needs the role to trust investigators."""

    staff_id = fields.UUID(required=True)
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    display_name = _name(min_length=1)
    email = _contact_email()
    registered_by = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "ConnectorAuthorizationRevoked", 1, "connector.authorization_revoked")
class ConnectorAuthorizationRevokedV1(Schema):
    """A grant is gone: caches must stop serving this practitioner's agenda to the connector."""

    grant_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True)
    practitioner_id = fields.UUID(required=True)
    revoked_by = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "ConnectorSecretRotated", 1, "connector.secret_rotated")
class ConnectorSecretRotatedV1(Schema):
    """The old client secret no longer works and the tokens it obtained are revoked."""

    connector_id = fields.UUID(required=True)
    rotated_by = fields.UUID(required=True)
    revoked_token_ids = fields.List(fields.UUID(), required=True, validate=Unique())


@REGISTRY.event(SERVICE, "ConnectorReinstated", 1, "connector.reinstated")
class ConnectorReinstatedV1(Schema):
    """A suspended connector may ask for tokens again (an explicit act, never a timeout)."""

    connector_id = fields.UUID(required=True)
    reinstated_by = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "TokenIssued", 2, "token.issued")
class TokenIssuedV2(TokenIssuedV1):
    """V1 plus the principal's kind and the password grant (people sign in, not only connectors)."""

    principal_kind = fields.String(required=True, validate=validate.OneOf(PRINCIPAL_KINDS))
    grant_type = fields.String(required=True, validate=validate.OneOf(GRANT_TYPES_V2))


@REGISTRY.upcaster("TokenIssued", from_version=1)
def token_issued_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """V1 tokens named a connector when one got them; otherwise the holder was a practitioner."""
    kind = "connector" if payload.get("connector_id") else "practitioner"
    return {**payload, "principal_kind": payload.get("principal_kind", kind)}


__all__ = [
    "AUTH_FAILURE_REASONS",
    "EXCHANGE",
    "FIELD_CLASSES",
    "GENDERS",
    "GRANT_TYPES",
    "PRINCIPAL_KINDS",
    "SERVICE",
    "STAFF_ROLES",
    "AuthenticationFailedV1",
    "ConnectorAuthorizationRevokedV1",
    "ConnectorAuthorizedV1",
    "ConnectorRegisteredV1",
    "ConnectorReinstatedV1",
    "ConnectorSecretRotatedV1",
    "ConnectorSuspendedV1",
    "PatientRegisteredV1",
    "PatientRegisteredV2",
    "PractitionerRegisteredV1",
    "StaffRegisteredV1",
    "TokenIssuedV1",
    "TokenIssuedV2",
    "patient_registered_v1_to_v2",
    "token_issued_v1_to_v2",
]
