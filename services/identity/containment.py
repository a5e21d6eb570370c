"""Policy on audit's findings (SuspiciousAccessDetected V3): throttle, suspend, or only log.

Audit decides how grave a finding is (`recommended_action`, by thresholds in its config) and
does not recommend a response for a principal an operator trusted; identity carries it out
for any kind of principal, and checks trust again itself (one read of a row it locks anyway):
a finding computed before the operator's PrincipalTrusted, or a trusted principal linked to
someone else's finding, is left alone. One switch turns it off (IDENTITY_AUTO_CONTAIN).

- review: a log line, nothing else;
- throttle: QuotaSet (reason "throttle") for the principal and each linked principal;
- suspend: the principal is suspended (ConnectorSuspended or AccountSuspended, tokens
  revoked), each linked principal throttled — linked principals are never suspended;
- a finding that names only a network address: nothing here (booking's address bucket).

Every measure of one finding commits with its inbox claim, so a redelivery does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.identity_accounts import ACCOUNT_KINDS
from services.common.consumed import ConsumedEvent
from services.common.inbox import Inbox
from services.common.logging import get_logger
from services.identity import accounts, connectors, quotas
from services.identity import readmodels as rm
from services.identity.context import Ctx

log = get_logger(__name__)
Conn = Any


@dataclass(frozen=True)
class Measure:
    """What policy did to one principal for one finding (or why it did nothing)."""

    principal_id: UUID
    kind: str | None
    action: str  # suspended | throttled | skipped
    linked: bool
    why: str | None = None  # for skipped: unknown, trusted, suspended, already_suspended
    revoked: int = 0
    per_hour: int | None = None
    until: str | None = None


def _suspend(ctx: Ctx, conn: Conn, p: rm.Principal, detection: UUID) -> Measure:
    """By the kind identity has on record: the connector's or the person's own aggregate."""
    if p.kind == "connector":
        revoked = connectors.suspend_in(
            ctx, conn, p.principal_id, "suspicious_access", None, detection
        )
    else:
        account = accounts.load_account(ctx, p.principal_id, p.kind)
        revoked = accounts.suspend_in(ctx, conn, account, "suspicious_access", None, detection)
    if revoked is None:
        return Measure(p.principal_id, p.kind, "skipped", False, "already_suspended")
    return Measure(p.principal_id, p.kind, "suspended", False, revoked=revoked)


def _measure(
    ctx: Ctx, conn: Conn, pid: UUID, action: str, detection: UUID, now: datetime, linked: bool
) -> Measure:
    """Suspend or throttle one principal, unless identity does not know it or it is trusted."""
    p = rm.get_principal(conn, pid)
    if p is None or (p.kind not in ACCOUNT_KINDS and p.kind != "connector"):
        return Measure(pid, None, "skipped", linked, "unknown")
    if p.trusted_at(now):
        return Measure(pid, p.kind, "skipped", linked, "trusted")
    if action == "suspend":
        return _suspend(ctx, conn, p, detection)
    if p.status == "suspended":  # nothing left to bound
        return Measure(pid, p.kind, "skipped", linked, "suspended")
    q = quotas.throttle_in(ctx, conn, p, detection, now)
    return Measure(pid, p.kind, "throttled", linked, per_hour=q["per_hour"], until=q["until"])


def _contain(ctx: Ctx, conn: Conn, data: Mapping[str, Any]) -> list[Measure]:
    """Every measure of one finding, in the inbox claim's transaction."""
    now, detection = ctx.clock(), UUID(str(data["detection_id"]))
    primary = UUID(str(data["principal_id"]))
    action = "suspend" if data["recommended_action"] == "suspend" else "throttle"
    measures = [_measure(ctx, conn, primary, action, detection, now, linked=False)]
    linked = dict.fromkeys(UUID(str(p)) for p in data.get("linked_principal_ids") or ())
    for pid in linked:
        if pid != primary:
            measures.append(_measure(ctx, conn, pid, "throttle", detection, now, linked=True))
    return measures


def _iso(value: Any) -> str:
    """A window bound as ISO-8601 text (loaded payloads carry datetimes)."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _alert_on_call(data: Mapping[str, Any], m: Measure) -> None:
    """One error line per automatic suspension: what fired, and the command to start the inquiry."""
    evidence = data.get("evidence") or {}
    start, end = _iso(evidence.get("window_start")), _iso(evidence.get("window_end"))
    option = "--connector" if m.kind == "connector" else "--principal"
    hint = f"carnet audit investigate {option} {m.principal_id} --from {start} --to {end}"
    log.error(
        "principal.suspended_by_detection",
        rule=data["rule"],
        severity=data.get("severity"),
        detection_id=str(data["detection_id"]),
        principal_id=str(m.principal_id),
        principal_kind=m.kind,
        revoked=m.revoked,
        evidence_summary=evidence.get("summary"),
        window_start=start,
        window_end=end,
        incident_hint=hint,
    )


def _report(data: Mapping[str, Any], measures: list[Measure]) -> None:
    """After the commit: a line per measure, and the on-call alert per suspension."""
    detection = str(data["detection_id"])
    for m in measures:
        if m.action == "suspended":
            why = ("suspicious_access", UUID(detection), m.revoked)
            if m.kind == "connector":
                connectors.log_suspended(m.principal_id, *why)
            else:
                accounts.log_suspended(m.principal_id, m.kind, *why)
            _alert_on_call(data, m)
        elif m.action == "throttled":
            log.warning("principal.throttled", detection_id=detection, rule=data["rule"],
                        principal_id=str(m.principal_id), principal_kind=m.kind,
                        linked=m.linked, per_hour=m.per_hour, until=m.until)  # fmt: skip
        else:
            log.info("containment.skipped", detection_id=detection, reason=m.why,
                     principal_id=str(m.principal_id), linked=m.linked)  # fmt: skip


def on_suspicious_access(ctx: Ctx, inbox: Inbox, event: ConsumedEvent) -> bool:
    """Carry out audit's recommendation for a finding, once per event; True if it ran now."""
    data = event.payload
    said = {
        "detection_id": str(data["detection_id"]),
        "rule": data["rule"],
        "recommended_action": data["recommended_action"],
        "principal_id": str(data["principal_id"]) if data.get("principal_id") else None,
    }
    if data["recommended_action"] not in ("throttle", "suspend"):
        log.info("suspicious_access.review", **said)
        return False
    if data.get("principal_id") is None:  # an address only: booking's address bucket bounds it
        log.info("suspicious_access.no_principal", **said)
        return False
    if not ctx.settings.auto_contain:
        log.warning("suspicious_access.not_contained", why="IDENTITY_AUTO_CONTAIN is off", **said)
        return False
    ctx.causation_id = str(event.event_id)
    ran, measures = inbox.once(event.event_id, lambda conn: _contain(ctx, conn, data))
    if ran and measures:
        _report(data, measures)
    return ran
