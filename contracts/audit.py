"""Events of the audit service: detections, incidents, notices to send, signed ledger heads."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import (
    SHA256_HEX,
    Base64,
    IPAddress,
    Nested,
    Unique,
    field_classes,
    uuid_list,
)
from contracts.registry import REGISTRY

SERVICE = "audit"
EXCHANGE = f"{SERVICE}.events"

DETECTION_RULES = ("volume_above_baseline", "outside_grant", "enumeration")
SEVERITIES = ("low", "medium", "high", "critical")
RECOMMENDED_ACTIONS = ("none", "review", "suspend_connector")
# V2: the continuous rules of docs/audit.md "Detection rules".
DETECTION_RULES_V2 = (
    "D1_volume",
    "D2_patient_spread",
    "D3_outside_grant",
    "D4_probing",
    "D5_new_address",
    "D6_deep_paging",
)
RECOMMENDED_ACTIONS_V2 = ("suspend", "review")
# V1 rule names as V2 reads them (the upcaster's map).
RULES_V1_TO_V2 = {
    "volume_above_baseline": "D1_volume",
    "outside_grant": "D3_outside_grant",
    "enumeration": "D4_probing",
}
MAX_EVIDENCE_SAMPLE = 20
SIGNATURE_ALGORITHMS = ("ed25519", "hmac-sha256")


class WindowV1(Schema):
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
class SuspiciousAccessDetectedV1(WindowV1):
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


class DetectionEvidenceV2(WindowV1):
    """What a rule saw, so on-call can judge it without reading personal data.

    `None` appears only in detections upcast from V1, which did not say it.
    """

    access_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    distinct_patients = fields.Integer(
        required=True, strict=True, allow_none=True, validate=validate.Range(min=0)
    )
    distinct_appointments = fields.Integer(
        required=True, strict=True, allow_none=True, validate=validate.Range(min=0)
    )
    # The measure the rule compared (appointments returned, patients, denials, requests...).
    observed = fields.Float(required=True, allow_none=True, validate=validate.Range(min=0))
    baseline = fields.Float(required=True, allow_none=True, validate=validate.Range(min=0))
    threshold = fields.Float(required=True, allow_none=True, validate=validate.Range(min=0))
    access_ids = fields.List(
        fields.UUID(),
        required=True,
        validate=[validate.Length(max=MAX_EVIDENCE_SAMPLE), Unique()],
    )
    network_addresses = fields.List(
        fields.String(validate=IPAddress()),
        required=True,
        validate=[validate.Length(max=MAX_EVIDENCE_SAMPLE), Unique()],
    )
    summary = fields.String(required=True, validate=validate.Length(min=1, max=500))


@REGISTRY.event(SERVICE, "SuspiciousAccessDetected", 2, "suspicious_access.detected")
class SuspiciousAccessDetectedV2(Schema):
    """A continuous rule (D1..D6) fired for a principal; identity may suspend the connector."""

    detection_id = fields.UUID(required=True)
    rule = fields.String(required=True, validate=validate.OneOf(DETECTION_RULES_V2))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    principal_id = fields.UUID(required=True)
    connector_id = fields.UUID(required=True, allow_none=True)
    recommended_action = fields.String(
        required=True, validate=validate.OneOf(RECOMMENDED_ACTIONS_V2)
    )
    evidence = Nested(DetectionEvidenceV2, required=True)


@REGISTRY.upcaster("SuspiciousAccessDetected", from_version=1)
def suspicious_access_detected_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """V1 rules map onto D1/D3/D4; what V1 did not measure stays None, never guessed."""
    rule = RULES_V1_TO_V2[payload["rule"]]
    action = "suspend" if payload["recommended_action"] == "suspend_connector" else "review"
    count = payload["access_count"]
    return {
        "detection_id": payload["detection_id"],
        "rule": rule,
        "severity": payload["severity"],
        "principal_id": payload["principal_id"],
        "connector_id": payload["connector_id"],
        "recommended_action": action,
        "evidence": {
            "window_start": payload["window_start"],
            "window_end": payload["window_end"],
            "access_count": count,
            "distinct_patients": None,
            "distinct_appointments": None,
            "observed": None,
            "baseline": payload["baseline"],
            "threshold": None,
            "access_ids": list(dict.fromkeys(payload["access_ids"]))[:MAX_EVIDENCE_SAMPLE],
            "network_addresses": [],
            "summary": f"{rule} (V1 {payload['rule']}): {count} accesses in the window",
        },
    }


@REGISTRY.event(SERVICE, "IncidentOpened", 1, "incident.opened")
class IncidentOpenedV1(WindowV1):
    """An investigator opened an incident over a subject and a window (GDPR Art. 33 clock)."""

    incident_id = fields.UUID(required=True)
    opened_by = fields.UUID(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    connector_id = fields.UUID(required=True, allow_none=True)
    principal_id = fields.UUID(required=True, allow_none=True)
    detection_ids = uuid_list(required=True)


@REGISTRY.event(SERVICE, "IncidentOpened", 2, "incident.opened")
class IncidentOpenedV2(IncidentOpenedV1):
    """V1 plus the moment the organisation became aware: the Art. 33 72-hour clock starts there."""

    aware_at = fields.AwareDateTime(required=True)


@REGISTRY.upcaster("IncidentOpened", from_version=1)
def incident_opened_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """V1 said no awareness time; the window's end is the latest it can have been."""
    return {**payload, "aware_at": payload["window_end"]}


@REGISTRY.event(SERVICE, "RegulatorNoticePrepared", 1, "regulator_notice.prepared")
class RegulatorNoticePreparedV1(Schema):
    """The Art. 33 notice to the supervisory authority is ready, at this time, by this person."""

    incident_id = fields.UUID(required=True)
    prepared_by = fields.UUID(required=True)
    prepared_at = fields.AwareDateTime(required=True)
    deadline = fields.AwareDateTime(required=True)
    within_deadline = fields.Boolean(required=True)


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
    "DETECTION_RULES_V2",
    "EXCHANGE",
    "MAX_EVIDENCE_SAMPLE",
    "RECOMMENDED_ACTIONS",
    "RECOMMENDED_ACTIONS_V2",
    "RULES_V1_TO_V2",
    "SERVICE",
    "SEVERITIES",
    "SIGNATURE_ALGORITHMS",
    "BreachNotificationRequestedV1",
    "DetectionEvidenceV2",
    "IncidentOpenedV1",
    "IncidentOpenedV2",
    "LedgerCheckpointedV1",
    "RegulatorNoticePreparedV1",
    "SuspiciousAccessDetectedV1",
    "SuspiciousAccessDetectedV2",
    "suspicious_access_detected_v1_to_v2",
]
