"""Events of the audit service: detections, incidents, notices to send, signed ledger heads."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import SHA256_HEX, Base64, Unique, field_classes, uuid_list
from contracts.registry import REGISTRY

SERVICE = "audit"
EXCHANGE = f"{SERVICE}.events"

DETECTION_RULES = ("volume_above_baseline", "outside_grant", "enumeration")
SEVERITIES = ("low", "medium", "high", "critical")
RECOMMENDED_ACTIONS = ("none", "review", "suspend_connector")
SIGNATURE_ALGORITHMS = ("ed25519", "hmac-sha256")


class _WindowV1(Schema):
    """A half-open time window [window_start, window_end) over the access log."""

    window_start = fields.AwareDateTime(required=True)
    window_end = fields.AwareDateTime(required=True)

    @validates_schema
    def _window_is_forward(self, data: dict[str, Any], **kwargs: Any) -> None:
        """An inverted window would select nothing and look like 'no exposure'."""
        start, end = data.get("window_start"), data.get("window_end")
        if start is not None and end is not None and end < start:
            raise ValidationError("window_end must not precede window_start", "window_end")


@REGISTRY.event(SERVICE, "SuspiciousAccessDetected", 1, "suspicious_access.detected")
class SuspiciousAccessDetectedV1(_WindowV1):
    """A detection rule fired on the access log; identity may suspend the connector."""

    detection_id = fields.UUID(required=True)
    rule = fields.String(required=True, validate=validate.OneOf(DETECTION_RULES))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    principal_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)
    access_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    baseline = fields.Float(required=True, allow_none=True, validate=validate.Range(min=0))
    access_ids = uuid_list(required=True, min_items=1)
    recommended_action = fields.String(required=True, validate=validate.OneOf(RECOMMENDED_ACTIONS))


@REGISTRY.event(SERVICE, "IncidentOpened", 1, "incident.opened")
class IncidentOpenedV1(_WindowV1):
    """An investigator opened an incident over a subject and a window (GDPR Art. 33 clock)."""

    incident_id = fields.UUID(required=True)
    opened_by = fields.UUID(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    connector_id = fields.UUID(required=True, allow_none=True)
    principal_id = fields.UUID(required=True, allow_none=True)
    detection_ids = uuid_list(required=True)


@REGISTRY.event(SERVICE, "BreachNotificationRequested", 1, "breach_notification.requested")
class BreachNotificationRequestedV1(Schema):
    """One Art. 34 notice to send to one affected patient, once (request_id is the key)."""

    request_id = fields.UUID(required=True)
    incident_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    appointment_ids = uuid_list(required=True, min_items=1)
    field_classes = field_classes(required=True)
    first_access_at = fields.AwareDateTime(required=True)
    last_access_at = fields.AwareDateTime(required=True)
    channels = fields.List(
        fields.String(validate=validate.OneOf(("email", "sms"))),
        required=True,
        validate=[validate.Length(min=1), Unique()],
    )
    template = fields.String(required=True, validate=validate.OneOf(("breach_notice_art34",)))
    locale = fields.String(required=True, validate=validate.Regexp(r"^[a-z]{2}-[A-Z]{2}$"))

    @validates_schema
    def _first_before_last(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The notice states the exposure period; a reversed one would be a false statement."""
        first, last = data.get("first_access_at"), data.get("last_access_at")
        if first is not None and last is not None and last < first:
            raise ValidationError(
                "last_access_at must not precede first_access_at", "last_access_at"
            )


@REGISTRY.event(SERVICE, "LedgerCheckpointed", 1, "ledger.checkpointed")
class LedgerCheckpointedV1(Schema):
    """A signed ledger head: anyone holding the key can prove no earlier row was changed."""

    checkpoint_id = fields.UUID(required=True)
    ledger_position = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    entry_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    head_hash = fields.String(required=True, validate=SHA256_HEX)
    previous_checkpoint_id = fields.UUID(required=True, allow_none=True)
    previous_head_hash = fields.String(required=True, allow_none=True, validate=SHA256_HEX)
    algorithm = fields.String(required=True, validate=validate.OneOf(SIGNATURE_ALGORITHMS))
    key_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    signature = fields.String(required=True, validate=[validate.Length(min=1), Base64()])


__all__ = [
    "DETECTION_RULES",
    "EXCHANGE",
    "RECOMMENDED_ACTIONS",
    "SERVICE",
    "SEVERITIES",
    "SIGNATURE_ALGORITHMS",
    "BreachNotificationRequestedV1",
    "IncidentOpenedV1",
    "LedgerCheckpointedV1",
    "SuspiciousAccessDetectedV1",
]
