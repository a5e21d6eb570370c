"""Bodies of audit's HTTP interface: the incident request exactly, the answers by their keys."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.audit_containment import MAX_SUBJECTS, SUBJECT_KINDS
from services.common.http.body import Instant

_COUNT = {"required": True, "validate": validate.Range(min=0)}
SHORTHAND = {"connector_id": "connector", "principal_id": "principal"}


class SubjectIn(Schema):
    """A connector or principal id, a source IP address, or a vendor's name as registered."""

    kind = fields.String(required=True, validate=validate.OneOf(SUBJECT_KINDS))
    value = fields.String(required=True, validate=validate.Length(min=1, max=200))


class IncidentIn(Schema):
    """Open an incident over a set of subjects and a window; `connector_id` or `principal_id`
    alone is shorthand for a one-subject set (as before subjects existed)."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    subjects = fields.List(
        fields.Nested(SubjectIn), validate=validate.Length(min=1, max=MAX_SUBJECTS)
    )
    connector_id = fields.UUID(allow_none=True)
    principal_id = fields.UUID(allow_none=True)
    from_ = Instant(required=True, data_key="from")
    to = Instant(required=True)
    aware_at = Instant(required=True)
    detection_ids = fields.List(fields.UUID(), allow_none=True)

    @validates_schema
    def _whose(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Whose accesses: a set of subjects, or the shorthand for one, never both."""
        given = [k for k in ("subjects", *SHORTHAND) if data.get(k) is not None]
        if len(given) != 1:
            raise ValidationError("give subjects, or exactly one of connector_id, principal_id")


def subjects_in(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The subjects an IncidentIn names, the shorthand spelled out."""
    if data.get("subjects") is not None:
        return list(data["subjects"])
    return [{"kind": kind, "value": str(data[k])} for k, kind in SHORTHAND.items() if data.get(k)]


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
    """The report, recomputed from the ledger (docs/audit.md gives every key): the affected set
    in total and per subject, refused attempts, related activity not in scope, containment."""

    incident = fields.Dict(required=True)
    affected = fields.Dict(required=True)
    attempts = fields.Dict(required=True)
    related = fields.Dict(required=True)
    containment = fields.List(fields.Raw(), required=True)
    art33 = fields.Dict(required=True)
    to_complete = fields.List(fields.Raw(), required=True)
    completeness = fields.Dict(required=True)


class ReportPending(Schema):
    """202: the ledger does not hold the whole window yet; the backlog per service."""

    status = fields.String(required=True)
    detail = fields.String(required=True)
    completeness = fields.Dict(required=True)


class IncidentOpened(Schema):
    """Opened; the report right away once the ledger holds the window, else null."""

    incident_id = fields.UUID(required=True)
    completeness = fields.Dict(required=True)
    report = fields.Nested(IncidentReport, required=True, allow_none=True)


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
