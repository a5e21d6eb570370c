"""Bodies of audit's HTTP interface: the incident request exactly, the answers by their keys."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.http.body import Instant

_COUNT = {"required": True, "validate": validate.Range(min=0)}


class IncidentIn(Schema):
    """Open an incident: exactly one of connector_id, principal_id, over a window."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    connector_id = fields.UUID(allow_none=True)
    principal_id = fields.UUID(allow_none=True)
    from_ = Instant(required=True, data_key="from")
    to = Instant(required=True)
    aware_at = Instant(required=True)
    detection_ids = fields.List(fields.UUID(), allow_none=True)

    @validates_schema
    def _one_subject(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Whose accesses: a connector's (and its tokens'), or one principal's."""
        if (data.get("connector_id") is None) == (data.get("principal_id") is None):
            raise ValidationError("give exactly one of connector_id, principal_id")


class History(Schema):
    """Every change and access of one appointment, in ledger order."""

    appointment_id = fields.UUID(required=True)
    count = fields.Integer(**_COUNT)
    items = fields.List(fields.Raw(), required=True)


class State(Schema):
    """The appointment's administrative state at an instant."""

    appointment_id = fields.UUID(required=True)
    as_of = fields.DateTime(required=True)
    state = fields.Dict(required=True)


class Accesses(Schema):
    """Access records of one principal, connector or patient."""

    filter = fields.Dict(required=True)
    count = fields.Integer(**_COUNT)
    truncated = fields.Boolean(required=True)
    accesses = fields.List(fields.Raw(), required=True)


class IncidentReport(Schema):
    """The report, recomputed from the ledger (docs/audit.md gives every key)."""

    incident = fields.Dict(required=True)
    affected = fields.Dict(required=True)
    containment = fields.List(fields.Raw(), required=True)
    art33 = fields.Dict(required=True)
    to_complete = fields.List(fields.Raw(), required=True)


class IncidentOpened(Schema):
    """Opened, with its report computed right away."""

    incident_id = fields.UUID(required=True)
    report = fields.Nested(IncidentReport, required=True)


class NoticesRequested(Schema):
    """One Art. 34 notice request per affected patient, once."""

    incident_id = fields.UUID(required=True)
    notices_requested = fields.Integer(**_COUNT)


class RegulatorNotice(Schema):
    """The Art. 33 notice marked ready, against the 72-hour deadline."""

    incident_id = fields.UUID(required=True)
    prepared_at = fields.DateTime(required=True)
    deadline = fields.DateTime(required=True)
    within_deadline = fields.Boolean(required=True)


class VerifyReport(Schema):
    """The ledger's verify report, ok or not."""

    ok = fields.Boolean(required=True)
    ledger_size = fields.Integer(**_COUNT)
    entries_checked = fields.Integer(**_COUNT)
    checkpoints_checked = fields.Integer(**_COUNT)
    findings = fields.List(fields.Raw(), required=True)
