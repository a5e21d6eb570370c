"""Runs the rules as events arrive: state update, findings and SuspiciousAccessDetected, one commit.

`handle` claims the event id in audit's inbox and runs `on_event` in that transaction, so a
redelivered event changes no window and appends no second detection; a crash before the
commit leaves nothing, and the redelivery does it all once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.audit import MAX_EVIDENCE_SAMPLE
from contracts.registry import REGISTRY
from services.audit.detection import state
from services.audit.detection.observe import WATCHED, DetectedEvent, Observation, observe
from services.audit.detection.rules import (
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    RULE_FUNCTIONS,
    Finding,
    Tally,
    cooling,
    window_of,
)
from services.audit.detection.settings import MINUTE, DetectionSettings
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.inbox import Inbox
from services.common.logging import get_logger
from services.common.metrics import SUSPICIOUS_ACCESS_DETECTED

log = get_logger(__name__)
INBOX_CONSUMER = "audit.detection"
DETECTED = "SuspiciousAccessDetected"
# The access records a rule's evidence samples (state.SAMPLES).
SAMPLE_OF = {
    D1: "success",
    D2: "success",
    D3: "reach_denied",
    D4: "denied",
    D5: "success",
    D6: "deep_page",
}


@dataclass(frozen=True)
class Detection:
    """A finding appended to audit's store as SuspiciousAccessDetected."""

    detection_id: UUID
    event_id: UUID
    principal_id: UUID
    connector_id: UUID | None
    finding: Finding


def due_rules(obs: Observation, news: state.AddressNews) -> list[str]:
    """Only the rules whose measure this event raised can have just crossed their threshold."""
    due = []
    if obs.returned:
        due.append(D1)
    if obs.patient_ids:
        due.append(D2)
    if obs.reach_denied:
        due.append(D3)
    if obs.denied or obs.kind == "auth_failure":
        due.append(D4)
    if news.new_address and obs.connector_id is not None:
        due.append(D5)
    if obs.deep_page:
        due.append(D6)
    return due


def window(at: datetime, seconds: int) -> tuple[datetime, datetime]:
    """The whole minutes [start, end) ending with the event's minute."""
    end = at.replace(second=0, microsecond=0) + timedelta(seconds=MINUTE)
    return end - timedelta(seconds=seconds), end


def tally_for(
    conn: Any, s: DetectionSettings, rule: str, obs: Observation, subject: state.Subject
) -> Tally:
    """The window state the rule judges, with the extras only it needs."""
    start, end = window(obs.at, window_of(s, rule))
    t = state.tally(conn, subject.subject_id, start, end, SAMPLE_OF[rule])
    if rule == D1:
        base = state.baseline(conn, subject, start, s.d1_window_s, s.d1_baseline_s)
        return replace(t, baseline=base)
    if rule == D2:
        since = obs.at - timedelta(seconds=s.d2_booking_horizon_s)
        booked = state.booked_patients(conn, subject.subject_id, start, end, since)
        return replace(t, booked_patients=booked)
    return t


def on_event(
    conn: Any,
    event: DetectedEvent,
    settings: DetectionSettings,
    store: EventStore,
    now: datetime | None = None,
) -> list[Detection]:
    """Update the principal's windows, run the due rules, append what fired (caller's tx)."""
    obs = observe(event, settings, now or datetime.now(UTC))
    if obs is None:
        return []
    if obs.kind == "booking":
        state.record_booking(conn, obs)
        return []
    if obs.subject_id is None:
        return []  # a failed sign-in for an unknown client: nobody to count it against
    subject = state.touch_subject(conn, obs, settings)
    news = state.record(conn, obs)
    quiet = state.cooldowns(conn, subject.subject_id)
    detections = []
    for rule in due_rules(obs, news):
        if cooling(quiet.get(rule), obs.at):
            continue
        t = tally_for(conn, settings, rule, obs, subject)
        if rule == D5:
            t = replace(t, new_address=news.new_address, known_addresses=news.known_before)
        finding = RULE_FUNCTIONS[rule](settings, t)
        if finding is None:
            continue
        until = obs.at + timedelta(seconds=window_of(settings, rule))
        state.start_cooldown(conn, subject.subject_id, rule, obs.at, until)
        detections.append(_append(conn, store, event, obs, finding))
    return detections


def _append(
    conn: Any, store: EventStore, event: DetectedEvent, obs: Observation, finding: Finding
) -> Detection:
    """SuspiciousAccessDetected on its own stream, caused by the event that tipped it."""
    assert obs.subject_id is not None
    detection = Detection(uuid.uuid4(), uuid.uuid4(), obs.subject_id, obs.connector_id, finding)
    data = REGISTRY.dump_payload(DETECTED, payload(detection))
    metadata = {"correlation_id": event.correlation_id, "causation_id": str(event.event_id)}
    new = NewEvent(detection.event_id, DETECTED, REGISTRY.latest_version(DETECTED), data, metadata)
    store.append_in(conn, f"detection-{detection.detection_id}", [new], 0)
    return detection


def payload(d: Detection) -> dict[str, Any]:
    """The V3 payload: rule, principal, recommended action and counts-only evidence."""
    f, t = d.finding, d.finding.tally
    return {
        "detection_id": str(d.detection_id),
        "rule": f.rule,
        "severity": f.severity,
        "principal_kind": "connector" if d.connector_id == d.principal_id else "unknown",
        "principal_id": str(d.principal_id),
        "connector_id": str(d.connector_id) if d.connector_id else None,
        "network_address": None,
        "linked_principal_ids": [],
        "recommended_action": f.recommended_action,
        "evidence": {
            "window_start": t.start.isoformat(),
            "window_end": t.end.isoformat(),
            "access_count": t.accesses,
            "distinct_patients": t.distinct_patients,
            "distinct_appointments": t.distinct_appointments,
            "observed": float(f.observed),
            "baseline": t.baseline,
            "threshold": float(f.threshold),
            "access_ids": [str(a) for a in t.access_ids[:MAX_EVIDENCE_SAMPLE]],
            "network_addresses": list(dict.fromkeys(t.addresses))[:MAX_EVIDENCE_SAMPLE],
            "summary": f.summary,
        },
    }


_SETTINGS: dict[tuple[tuple[str, str], ...], DetectionSettings] = {}


def settings_for(config: Mapping[str, Any]) -> DetectionSettings:
    """Parsed once per distinct set of AUDIT_D* values (the config does not change at run time)."""
    key = tuple(sorted((k, str(v)) for k, v in config.items() if k.startswith("AUDIT_D")))
    if key not in _SETTINGS:
        _SETTINGS[key] = DetectionSettings.from_config(config)
    return _SETTINGS[key]


def handle(
    pool: Any, store: EventStore, config: Mapping[str, Any], event: DetectedEvent
) -> list[Detection]:
    """Exactly once per event id: state, findings and detections commit together."""
    settings = settings_for(config)
    if not settings.enabled or event.event_type not in WATCHED:
        return []
    inbox = Inbox(pool, "audit", INBOX_CONSUMER)
    ran, detections = inbox.once(
        event.event_id, lambda conn: on_event(conn, event, settings, store)
    )
    if not ran:
        log.info("detection.duplicate_ignored", event_id=str(event.event_id))
        return []
    for d in detections or []:  # committed: logged and counted once each
        _log(d)
        SUSPICIOUS_ACCESS_DETECTED.labels(d.finding.rule, d.finding.severity).inc()
    return detections or []


def _log(d: Detection) -> None:
    """One warning per detection, after commit: rule and counts, never personal data."""
    t = d.finding.tally
    log.warning(
        "detection.fired",
        rule=d.finding.rule,
        severity=d.finding.severity,
        recommended_action=d.finding.recommended_action,
        detection_id=str(d.detection_id),
        principal_id=str(d.principal_id),
        connector_id=str(d.connector_id) if d.connector_id else None,
        observed=d.finding.observed,
        threshold=d.finding.threshold,
        access_count=t.accesses,
        distinct_patients=t.distinct_patients,
        distinct_appointments=t.distinct_appointments,
        window_s=t.seconds,
    )
