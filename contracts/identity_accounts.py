"""Identity's containment events (issue #19): people's accounts suspended, reinstated or made to
reset their credentials; read quotas set per principal; a principal trusted for a while.

Connectors keep ConnectorSuspended/Reinstated (contracts/identity.py); these cover every other
kind, so a patient or staff account that probes or exports is contained like a connector.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from contracts.common import Unique
from contracts.identity import PRINCIPAL_KINDS, SERVICE
from contracts.registry import REGISTRY

ACCOUNT_KINDS = ("practitioner", "patient", "staff")
SUSPENSION_REASONS = ("suspicious_access", "operator_request", "contract_ended")
QUOTA_REASONS = ("operator", "throttle")
MAX_PER_HOUR = 10_000_000


@REGISTRY.event(SERVICE, "AccountSuspended", 1, "account.suspended")
class AccountSuspendedV1(Schema):
    """A person's account may no longer act: its tokens are revoked and caches must drop it."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    reason = fields.String(required=True, validate=validate.OneOf(SUSPENSION_REASONS))
    suspended_by = fields.UUID(required=True, allow_none=True)  # None: by policy on a finding
    detection_id = fields.UUID(required=True, allow_none=True)
    revoked_token_ids = fields.List(fields.UUID(), required=True, validate=Unique())


@REGISTRY.event(SERVICE, "AccountReinstated", 1, "account.reinstated")
class AccountReinstatedV1(Schema):
    """A suspended account may sign in again (an explicit act, never a timeout)."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    reinstated_by = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "CredentialsReset", 1, "credentials.reset")
class CredentialsResetV1(Schema):
    """The account's password no longer works and its tokens are revoked, until a new one is set."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    reset_by = fields.UUID(required=True, allow_none=True)  # None: by policy on a finding
    detection_id = fields.UUID(required=True, allow_none=True)
    revoked_token_ids = fields.List(fields.UUID(), required=True, validate=Unique())


@REGISTRY.event(SERVICE, "CredentialsSet", 1, "credentials.set")
class CredentialsSetV1(Schema):
    """An admin gave the account a password (after a reset, or a first one): an act on who may
    sign in as this person is recorded like any other; the password itself never is."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    set_by = fields.UUID(required=True)


@REGISTRY.event(SERVICE, "QuotaSet", 1, "quota.set")
class QuotaSetV1(Schema):
    """How many appointments a principal may read per hour (and at once), until when.

    `operator`: an admin's setting, kept until changed; `throttle`: a graduated response to a
    finding, lower than the default and expiring at `until`. Booking enforces it on every read.
    """

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(PRINCIPAL_KINDS))
    per_hour = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_PER_HOUR)
    )
    burst = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_PER_HOUR)
    )
    until = fields.AwareDateTime(required=True, allow_none=True)
    reason = fields.String(required=True, validate=validate.OneOf(QUOTA_REASONS))
    detection_id = fields.UUID(required=True, allow_none=True)
    set_by = fields.UUID(required=True, allow_none=True)  # None: by policy on a finding


@REGISTRY.event(SERVICE, "PrincipalTrusted", 1, "principal.trusted")
class PrincipalTrustedV1(Schema):
    """An operator vouches for a principal until `until` (a planned migration): findings are
    still recorded, but no throttle or suspension follows them automatically."""

    principal_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(PRINCIPAL_KINDS))
    until = fields.AwareDateTime(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    trusted_by = fields.UUID(required=True)


__all__ = [
    "ACCOUNT_KINDS",
    "QUOTA_REASONS",
    "SUSPENSION_REASONS",
    "AccountReinstatedV1",
    "AccountSuspendedV1",
    "CredentialsResetV1",
    "CredentialsSetV1",
    "PrincipalTrustedV1",
    "QuotaSetV1",
]
