"""Audit's own refusals (issue #19): a request to audit's API refused for its credentials.

Booking records every refused attempt on appointments as an AppointmentsAccessed (denied);
audit's API (traces, incidents, the FHIR AuditEvent export) is worth as much to a thief, so a
refused token or a caller without an investigator's role there is evidence too: detection
counts it like booking's (D5 for a known principal, D6 and D7 for a token nobody answers for).
It names no appointment (audit's routes refuse before they read anything) and never the token,
only its fingerprint.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from contracts.audit import SERVICE
from contracts.booking import ACCESSOR_KINDS
from contracts.booking_access import FINGERPRINT
from contracts.common import IPAddress
from contracts.registry import REGISTRY

AUDIT_DENIAL_CODES = ("unauthenticated", "forbidden")


@REGISTRY.event(SERVICE, "AuditAccessRefused", 1, "audit_access.refused")
class AuditAccessRefusedV1(Schema):
    """A request to audit's API refused: who (when known), from where, on which route, why."""

    access_id = fields.UUID(required=True)
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCESSOR_KINDS))
    principal_id = fields.UUID(required=True, allow_none=True)  # None: a refused token (401)
    network_address = fields.String(required=True, validate=IPAddress())
    user_agent = fields.String(required=True, allow_none=True, validate=validate.Length(max=500))
    request_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    route = fields.String(required=True, validate=validate.Length(min=1, max=100))
    token_fingerprint = fields.String(required=True, allow_none=True, validate=FINGERPRINT)
    denial_code = fields.String(required=True, validate=validate.OneOf(AUDIT_DENIAL_CODES))
