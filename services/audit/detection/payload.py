"""A finding as SuspiciousAccessDetected V3 and as one log line: counts, never personal data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from contracts.audit import MAX_EVIDENCE_SAMPLE
from services.audit.detection.rules import Finding
from services.audit.detection.subjects import Subject
from services.common.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Detection:
    """A finding appended to audit's store as SuspiciousAccessDetected."""

    detection_id: UUID
    event_id: UUID
    subject: Subject
    finding: Finding
    linked: tuple[UUID, ...] = ()

    @property
    def principal_id(self) -> UUID | None:
        """The principal the finding is about; None for an address or a token."""
        return self.subject.principal_id

    @property
    def connector_id(self) -> UUID | None:
        """A connector's principal id is its connector id."""
        return self.principal_id if self.subject.principal_kind == "connector" else None

    @property
    def network_address(self) -> str | None:
        """Where the attempts came from, when no principal answers for them."""
        if self.subject.is_principal or not self.finding.tally.addresses:
            return None
        return self.finding.tally.addresses[0]


def payload(d: Detection) -> dict[str, Any]:
    """The V3 payload: rule, subject, recommended action, linked principals, evidence."""
    f, t = d.finding, d.finding.tally
    return {
        "detection_id": str(d.detection_id),
        "rule": f.rule,
        "severity": f.severity,
        "principal_kind": d.subject.principal_kind,
        "principal_id": str(d.principal_id) if d.principal_id else None,
        "connector_id": str(d.connector_id) if d.connector_id else None,
        "network_address": d.network_address,
        "linked_principal_ids": [str(p) for p in d.linked],
        "recommended_action": f.recommended_action,
        "evidence": {
            "window_start": t.start.isoformat(),
            "window_end": t.end.isoformat(),
            "access_count": t.accesses,
            "distinct_patients": t.distinct_patients,
            "distinct_appointments": t.distinct_appointments,
            "observed": float(f.observed),
            "baseline": None if t.reach is None else float(t.reach),  # the reach it scaled by
            "threshold": float(f.threshold),
            "access_ids": [str(a) for a in t.access_ids[:MAX_EVIDENCE_SAMPLE]],
            "network_addresses": list(dict.fromkeys(t.addresses))[:MAX_EVIDENCE_SAMPLE],
            "summary": f.summary,
        },
    }


def log_fired(d: Detection) -> None:
    """One warning per detection, after commit: rule, step and counts, never personal data."""
    f, t = d.finding, d.finding.tally
    log.warning(
        "detection.fired",
        rule=f.rule,
        severity=f.severity,
        recommended_action=f.recommended_action,
        detection_id=str(d.detection_id),
        principal_kind=d.subject.principal_kind,
        principal_id=str(d.principal_id) if d.principal_id else None,
        connector_id=str(d.connector_id) if d.connector_id else None,
        linked_principals=len(d.linked),
        observed=f.observed,
        threshold=f.threshold,
        reach=t.reach,
        access_count=t.accesses,
        distinct_appointments=t.distinct_appointments,
        window_s=t.seconds,
    )
