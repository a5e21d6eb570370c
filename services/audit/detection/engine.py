"""Runs the rules as events arrive: state, findings and SuspiciousAccessDetected, one commit.

`handle` claims the event id in audit's inbox and runs `on_event` in that transaction, so a
redelivered event changes no window and appends no second detection; a crash before the
commit leaves nothing, and the redelivery does it all once. The scenario bench
(scripts/bench/detection.py) calls the same `handle` on simulated time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.registry import REGISTRY
from services.audit.detection import ingest, links, reference, subjects, windows
from services.audit.detection.ingest import Work
from services.audit.detection.observe import (
    AUDIT_REFUSALS,
    CHANGES,
    IDENTITY_FACTS,
    WATCHED,
    Access,
    DetectedEvent,
    SignIn,
    observe,
)
from services.audit.detection.payload import Detection, log_fired, payload
from services.audit.detection.rules import (
    ACTIONS,
    D1,
    D2,
    D9,
    RULE_FUNCTIONS,
    RULES,
    SAMPLE_OF,
    SCALED,
    SEVERITY,
    Finding,
    prefix,
    quiet,
    scaled,
    window_of,
)
from services.audit.detection.settings import MINUTE, DetectionSettings, config_key
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.inbox import Inbox
from services.common.logging import get_logger
from services.common.metrics import SUSPICIOUS_ACCESS_DETECTED
from services.common.tracing import trace_headers

log = get_logger(__name__)
INBOX_CONSUMER = "audit.detection"
DETECTED = "SuspiciousAccessDetected"
SUSPEND, THROTTLE = ACTIONS.index("suspend"), ACTIONS.index("throttle")
SHARED = (D1, D2)  # re-reads one operator splits between its credentials
SAME_MEASURE = {D2: D1}  # a rule that says what another said over a longer window

__all__ = [
    "AUDIT_REFUSALS",
    "CHANGES",
    "IDENTITY_FACTS",
    "Detection",
    "handle",
    "on_event",
    "settings_for",
]


def window(at: datetime, seconds: int) -> tuple[datetime, datetime]:
    """The whole minutes [start, end) ending with the event's minute."""
    end = at.replace(second=0, microsecond=0) + timedelta(seconds=MINUTE)
    return end - timedelta(seconds=seconds), end


def on_event(
    conn: Any,
    event: DetectedEvent,
    settings: DetectionSettings,
    store: EventStore,
    now: datetime | None = None,
) -> list[Detection]:
    """Update the subjects' state, run the due rules, append what fired (caller's tx)."""
    obs = observe(event, now or datetime.now(UTC))
    if obs is None:
        return []
    if isinstance(obs, Access):
        work = ingest.access(conn, obs, settings)
    elif isinstance(obs, SignIn):
        work = ingest.sign_in(conn, obs, settings)
    else:
        reference.apply(conn, obs)
        return []
    detections = []
    for w in work:
        for finding in judge(conn, w, obs.at, settings):
            detections.append(_append(conn, store, event, w, finding, settings, obs.at))
    return detections


def judge(conn: Any, w: Work, at: datetime, s: DetectionSettings) -> list[Finding]:
    """The due rules' findings for one subject, past their cooldowns, in rule order."""
    if not w.due:
        return []
    key = w.subject.key
    cooled = subjects.cooldowns(conn, key)
    reach = subjects.reach(conn, w.subject, at, s) if w.due & set(SCALED) else None
    trusted = reference.trusted_until(conn, w.subject.principal_id)
    group: list[str] | None = None
    found = []
    for rule in (r for r in RULES if r in w.due):
        last = cooled.get(rule)
        if last is not None and last[0] >= SUSPEND and at < last[1]:
            continue  # nothing above suspend: no window to read
        start, end = window(at, window_of(s, rule))
        t = windows.tally(conn, [key], start, end, SAMPLE_OF[rule], reach)
        if rule == D9:
            t = replace(t, contained_links=w.contained_links)
        finding = RULE_FUNCTIONS[rule](s, t)
        if rule in SHARED and w.subject.is_principal:
            if group is None:
                group = links.on_its_address(conn, key, at, s)
            finding = _with_accomplices(conn, s, rule, finding, group, key, (start, end), reach)
        if finding is None:
            continue
        if trusted is not None and at < trusted and finding.recommended_action != "review":
            note = f"; trusted until {trusted.isoformat()}: review only"
            finding = replace(
                finding, recommended_action="review", summary=(finding.summary + note)[:500]
            )
        if quiet(last, finding.rank, at) or _said(cooled, rule, finding.rank, at):
            continue
        until = at + (end - start)
        subjects.start_cooldown(conn, key, rule, finding.rank, at, until)
        cooled[rule] = (finding.rank, until)
        found.append(finding)
    return found


def _with_accomplices(
    conn: Any,
    s: DetectionSettings,
    rule: str,
    own: Finding | None,
    group: list[str],
    key: str,
    span: tuple[datetime, datetime],
    reach: int | None,
) -> Finding | None:
    """Re-reads split between principals on one address add up: the group's measure may
    throttle each of them (never suspend: that takes a principal's own measure)."""
    if not group or (own is not None and own.rank >= THROTTLE):
        return own
    t = windows.tally(conn, [key, *group], *span, SAMPLE_OF[rule], reach)
    joint = RULE_FUNCTIONS[rule](s, t)
    if joint is None or joint.rank < THROTTLE:
        return own
    threshold = scaled(s, prefix(rule), "throttle", reach)
    summary = f"{joint.summary}; with {len(group)} principals on its address"[:500]
    return replace(joint, recommended_action="throttle", severity=SEVERITY["throttle"],
                   threshold=threshold, summary=summary)  # fmt: skip


def _said(cooled: dict[str, tuple[int, datetime]], rule: str, rank: int, at: datetime) -> bool:
    """D2 repeats D1 over a day: quiet while D1 already holds this step or a higher one."""
    sibling = cooled.get(SAME_MEASURE.get(rule, ""))
    return sibling is not None and at < sibling[1] and rank <= sibling[0]


def _append(
    conn: Any,
    store: EventStore,
    event: DetectedEvent,
    w: Work,
    finding: Finding,
    s: DetectionSettings,
    at: datetime,
) -> Detection:
    """SuspiciousAccessDetected on its own stream, caused by the event that tipped it."""
    linked = links.linked(conn, w.subject.key, at, s) if w.subject.is_principal else []
    detection = Detection(uuid.uuid4(), uuid.uuid4(), w.subject, finding, tuple(linked))
    data = REGISTRY.dump_payload(DETECTED, payload(detection))
    metadata = {
        "correlation_id": event.correlation_id,
        "causation_id": str(event.event_id),
        # The trace of the event that tipped it, not of its batch's first (worker_trace.py).
        **trace_headers(getattr(event, "headers", {})),
    }
    new = NewEvent(detection.event_id, DETECTED, REGISTRY.latest_version(DETECTED), data, metadata)
    store.append_in(conn, f"detection-{detection.detection_id}", [new], 0)
    return detection


_SETTINGS: dict[tuple[tuple[str, str], ...], DetectionSettings] = {}
_KEYS = frozenset(config_key(f) for f in DetectionSettings.__dataclass_fields__)


def settings_for(config: Mapping[str, Any]) -> DetectionSettings:
    """Parsed once per distinct set of detection values (the config does not change at run time)."""
    key = tuple(sorted((k, str(v)) for k, v in config.items() if k in _KEYS))
    if key not in _SETTINGS:
        _SETTINGS[key] = DetectionSettings.from_config(config)
    return _SETTINGS[key]


def handle(
    pool: Any,
    store: EventStore,
    config: Mapping[str, Any],
    event: DetectedEvent,
    now: datetime | None = None,
) -> list[Detection]:
    """Exactly once per event id: state, findings and detections commit together."""
    return handle_all(pool, store, config, [event], now)


def handle_all(
    pool: Any,
    store: EventStore,
    config: Mapping[str, Any],
    events: list[DetectedEvent],
    now: datetime | None = None,
) -> list[Detection]:
    """`handle` for a batch (`@consume_batch`): every event's state in one transaction."""
    settings = settings_for(config)
    watched = [e for e in events if e.event_type in WATCHED] if settings.enabled else []
    if not watched:
        return []
    inbox = Inbox(pool, "audit", INBOX_CONSUMER)
    outcomes = inbox.each(watched, lambda conn, e: on_event(conn, e, settings, store, now))
    fired: list[Detection] = []
    for event, (ran, detections) in zip(watched, outcomes, strict=True):
        if not ran:
            log.info("detection.duplicate_ignored", event_id=str(event.event_id))
        fired.extend(detections or [])
    for d in fired:  # committed: logged and counted once each
        log_fired(d)
        SUSPICIOUS_ACCESS_DETECTED.labels(d.finding.rule, d.finding.severity).inc()
    return fired
