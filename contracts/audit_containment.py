"""Audit's containment events, version 3 (issue #19): findings on any kind of principal (or on
a network address when no principal is known), with a graduated recommendation and the linked
principals whose risk it raises; incidents over a set of subjects."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.audit import SERVICE, SEVERITIES, DetectionEvidenceV2, WindowV1
from contracts.booking import ACCESSOR_KINDS
from contracts.common import IPAddress, Nested, uuid_list
from contracts.registry import REGISTRY

RECOMMENDED_ACTIONS_V3 = ("review", "throttle", "suspend")
# A rule's name: its number and what it sees (docs/detection.md lists them).
RULE_NAME = validate.Regexp(r"^D\d{1,2}_[a-z_]{2,40}$", error="Not a rule name like D1_reread.")
SUBJECT_KINDS = ("connector", "principal", "address", "vendor")
MAX_LINKED, MAX_SUBJECTS = 20, 50


@REGISTRY.event(SERVICE, "SuspiciousAccessDetected", 3, "suspicious_access.detected")
class SuspiciousAccessDetectedV3(Schema):
    """A rule fired for a principal (or an address): what it saw, and what should follow."""

    detection_id = fields.UUID(required=True)
    rule = fields.String(required=True, validate=RULE_NAME)
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    principal_kind = fields.String(required=True, validate=validate.OneOf(ACCESSOR_KINDS))
    principal_id = fields.UUID(required=True, allow_none=True)  # None: refused tokens only
    connector_id = fields.UUID(required=True, allow_none=True)
    network_address = fields.String(required=True, allow_none=True, validate=IPAddress())
    recommended_action = fields.String(
        required=True, validate=validate.OneOf(RECOMMENDED_ACTIONS_V3)
    )
    # Principals linked to the subject (same address, client software or vendor in the
    # window): identity throttles them at least, and an incident should consider them.
    linked_principal_ids = uuid_list(required=True, max_items=MAX_LINKED)
    evidence = Nested(DetectionEvidenceV2, required=True)

    @validates_schema
    def _names_someone(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A finding names a principal, or at least the address the attempts came from."""
        if data.get("principal_id") is None and data.get("network_address") is None:
            raise ValidationError("name a principal or a network address", "principal_id")


@REGISTRY.upcaster("SuspiciousAccessDetected", from_version=2)
def suspicious_access_detected_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """V2 findings were about connectors (or principals V2 did not name the kind of)."""
    kind = "connector" if payload.get("connector_id") else "unknown"
    return {**payload, "principal_kind": kind, "network_address": None, "linked_principal_ids": []}


class SubjectV3(Schema):
    """One subject of an incident: a connector, any principal, a network address, a vendor."""

    kind = fields.String(required=True, validate=validate.OneOf(SUBJECT_KINDS))
    value = fields.String(required=True, validate=validate.Length(min=1, max=200))


@REGISTRY.event(SERVICE, "IncidentOpened", 3, "incident.opened")
class IncidentOpenedV3(WindowV1):
    """An investigator opened an incident over a set of subjects and a window (Art. 33 clock)."""

    incident_id = fields.UUID(required=True)
    opened_by = fields.UUID(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    subjects = fields.List(
        Nested(SubjectV3), required=True, validate=validate.Length(min=1, max=MAX_SUBJECTS)
    )
    detection_ids = uuid_list(required=True)
    aware_at = fields.AwareDateTime(required=True)


@REGISTRY.upcaster("IncidentOpened", from_version=2)
def incident_opened_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """V2 named one connector or one principal."""
    subjects = [
        {"kind": kind, "value": payload[key]}
        for kind, key in (("connector", "connector_id"), ("principal", "principal_id"))
        if payload.get(key)
    ]
    kept = {k: v for k, v in payload.items() if k not in ("connector_id", "principal_id")}
    return {**kept, "subjects": subjects}


__all__ = [
    "RECOMMENDED_ACTIONS_V3",
    "SUBJECT_KINDS",
    "IncidentOpenedV3",
    "SubjectV3",
    "SuspiciousAccessDetectedV3",
    "incident_opened_v2_to_v3",
    "suspicious_access_detected_v2_to_v3",
]
