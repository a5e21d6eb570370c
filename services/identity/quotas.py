"""Read quotas and trust on a principal: set by an admin, or a throttle set by policy.

Booking enforces quotas (ADR 0014); identity decides and records them. A decision is pure:
values are checked here, each refusal one sentence (422), and the event is appended to the
principal's own stream with its read-model row in one transaction: nothing half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.identity_accounts import ACCOUNT_KINDS, MAX_PER_HOUR
from services.common.errors import NotFound, Unprocessable
from services.common.eventstore.decided import Decided
from services.common.logging import get_logger
from services.identity import readmodels as rm
from services.identity.commands import require_admin
from services.identity.context import Actor, Ctx, new_events, retrying

ACCOUNTS = tuple(ACCOUNT_KINDS)

log = get_logger(__name__)
Conn = Any
TRUST_HOURS = (1, 168)  # a planned migration: at most a week, renewed on purpose
CONNECTOR = ("connector",)  # /v1/connectors/{id}/…; ACCOUNT_KINDS: /v1/accounts/{id}/…


def quota_problems(per_hour: int, burst: int, until: datetime | None, now: datetime) -> list[str]:
    """What makes these values no quota at all (an empty list: they are one)."""
    problems = []
    if not 1 <= per_hour <= MAX_PER_HOUR:
        problems.append(f"per_hour must be between 1 and {MAX_PER_HOUR} appointments")
    if not 1 <= burst <= max(1, min(per_hour, MAX_PER_HOUR)):
        problems.append("burst must be between 1 and per_hour (a bucket holds an hour at most)")
    if until is not None and until <= now:
        problems.append("until must be in the future")
    return problems


def decide_quota(
    principal: rm.Principal,
    per_hour: int,
    burst: int,
    until: datetime | None,
    now: datetime,
    reason: str,
    detection_id: UUID | None = None,
    by: UUID | None = None,
) -> Decided:
    """QuotaSet for `principal`, or Unprocessable naming every value that is wrong."""
    problems = quota_problems(per_hour, burst, until, now)
    if problems:
        raise Unprocessable("; ".join(problems))
    payload = {
        "principal_id": str(principal.principal_id),
        "principal_kind": principal.kind,
        "per_hour": per_hour,
        "burst": burst,
        "until": until.isoformat() if until else None,
        "reason": reason,
        "detection_id": str(detection_id) if detection_id else None,
        "set_by": str(by) if by else None,
    }
    return ("QuotaSet", payload)


def decide_trust(
    principal: rm.Principal, hours: int, reason: str, now: datetime, by: UUID
) -> Decided:
    """PrincipalTrusted until now + hours, or Unprocessable outside 1..168 hours."""
    low, high = TRUST_HOURS
    if not low <= hours <= high:
        raise Unprocessable(f"hours must be between {low} and {high}")
    payload = {
        "principal_id": str(principal.principal_id),
        "principal_kind": principal.kind,
        "until": (now + timedelta(hours=hours)).isoformat(),
        "reason": reason,
        "trusted_by": str(by),
    }
    return ("PrincipalTrusted", payload)


def _append(ctx: Ctx, conn: Conn, principal: rm.Principal, decided: Decided) -> None:
    """On the principal's own stream, at the version read now (a clash reruns the unit)."""
    stream = f"{principal.kind}-{principal.principal_id}"
    recorded = ctx.store.read_stream(stream)
    version = recorded[-1].stream_version if recorded else 0
    ctx.store.append_in(conn, stream, new_events([decided], ctx.causation_id), version)


def _principal(ctx: Ctx, actor: Actor, principal_id: UUID, kinds: tuple[str, ...]) -> rm.Principal:
    """The connector, or the person's account, an admin sets a quota or trust on (404: none;
    422: an admin's own account, which would exempt its holder from containment)."""
    with ctx.pool.connection() as conn:
        found = rm.get_principal(conn, principal_id)
    if found is None or found.kind not in kinds:
        raise NotFound("no such connector" if kinds == CONNECTOR else "no such account")
    if actor.principal_id == principal_id:
        raise Unprocessable("an admin cannot set their own quota or trust; ask another admin")
    return found


def _named(p: rm.Principal) -> dict[str, str]:
    """Whom an answer is about: a connector by its id, an account by id and kind."""
    if p.kind == "connector":
        return {"connector_id": str(p.principal_id)}
    return {"principal_id": str(p.principal_id), "principal_kind": p.kind}


def view(quota: rm.Quota | None, now: datetime) -> dict[str, Any] | None:
    """A quota as an admin reads it, or None when there is none in force."""
    if quota is None or not quota.in_force_at(now):
        return None
    return {
        "per_hour": quota.per_hour,
        "burst": quota.burst,
        "until": quota.until.isoformat() if quota.until else None,
        "set_at": quota.set_at.isoformat(),
    }


def set_quota(
    ctx: Ctx,
    actor: Actor,
    principal_id: UUID,
    data: Mapping[str, Any],
    kinds: tuple[str, ...] = CONNECTOR,
) -> dict[str, Any]:
    """PUT /v1/connectors/{id}/quota or /v1/accounts/{id}/quota: the operator's quota, in force
    until changed or `until`."""
    require_admin(actor)
    principal = _principal(ctx, actor, principal_id, kinds)  # 404 before the values' 422
    now = ctx.clock()
    decided = decide_quota(
        principal, data["per_hour"], data["burst"], data.get("until"), now, "operator",
        by=actor.principal_id,
    )  # fmt: skip

    def work() -> None:
        with ctx.pool.connection() as conn, conn.transaction():
            _append(ctx, conn, principal, decided)
            rm.put_quota(conn, principal_id, decided[1])

    retrying(work)
    payload = decided[1]
    log.info("quota.set", principal_id=str(principal_id), principal_kind=principal.kind,
             reason="operator", per_hour=payload["per_hour"], burst=payload["burst"],
             until=payload["until"])  # fmt: skip
    keep = ("per_hour", "burst", "until", "reason")
    return {**_named(principal), **{k: payload[k] for k in keep}}


def throttle_in(
    ctx: Ctx, conn: Conn, principal: rm.Principal, detection_id: UUID, now: datetime
) -> dict[str, Any]:
    """A throttle (QuotaSet reason "throttle") inside the caller's transaction; its payload.

    Never looser than an operator quota in force: booking applies the latest QuotaSet, so a
    throttle above the operator's figure would raise the bound it is meant to lower.
    """
    s = ctx.settings
    per_hour, burst = s.throttle_per_hour, s.throttle_burst
    operator = rm.quotas_of(conn, principal.principal_id).get("operator")
    if operator is not None and operator.in_force_at(now):
        per_hour, burst = min(per_hour, operator.per_hour), min(burst, operator.burst)
    until = now + timedelta(seconds=s.throttle_s)
    decided = decide_quota(
        principal, per_hour, min(burst, per_hour), until, now, "throttle", detection_id
    )
    _append(ctx, conn, principal, decided)
    rm.put_quota(conn, principal.principal_id, decided[1])
    return decided[1]


def trust(
    ctx: Ctx,
    actor: Actor,
    principal_id: UUID,
    data: Mapping[str, Any],
    kinds: tuple[str, ...] = CONNECTOR,
) -> dict[str, Any]:
    """POST /v1/connectors/{id}/trust or /v1/accounts/{id}/trust: no automatic throttle or
    suspension for a while (a partner's migration, a staff member's planned bulk export)."""
    require_admin(actor)
    principal = _principal(ctx, actor, principal_id, kinds)
    by, now = actor.principal_id, ctx.clock()
    decided = decide_trust(principal, data["hours"], data["reason"], now, by)
    until = datetime.fromisoformat(decided[1]["until"])

    def work() -> None:
        with ctx.pool.connection() as conn, conn.transaction():
            _append(ctx, conn, principal, decided)
            rm.set_trusted_until(conn, principal_id, until)

    retrying(work)
    # The reason is free text an operator typed: it stays in the event, out of the logs.
    log.info("principal.trusted", principal_id=str(principal_id), principal_kind=principal.kind,
             until=decided[1]["until"])  # fmt: skip
    return {**_named(principal), "trusted_until": decided[1]["until"]}
