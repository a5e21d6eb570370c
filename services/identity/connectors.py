"""Connector lifecycle: suspension (revoking tokens in the same transaction), reinstatement,
secret rotation. Suspension on audit's findings is policy's (containment.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from services.common.logging import get_logger
from services.identity import readmodels as rm
from services.identity.commands import load_connector, require_admin
from services.identity.context import Actor, Ctx, new_events, retrying
from services.identity.credentials import hash_secret, new_client_secret

log = get_logger(__name__)


def suspend_in(
    ctx: Ctx, conn: Any, connector_id: UUID, reason: str, by: UUID | None, detection_id: UUID | None
) -> int | None:
    """Suspend inside the caller's transaction; the number of revoked tokens, None if no change."""
    connector = load_connector(ctx, connector_id)
    # The status update row-locks the principal first: a concurrent token issue (holding
    # FOR SHARE on it) either committed before, and its token is in live_token_ids below,
    # or waits and then sees `suspended`.
    rm.set_status(conn, connector_id, "suspended")
    token_ids = rm.live_token_ids(conn, connector_id)
    decided = connector.suspend(reason, by, detection_id, token_ids)
    if decided:
        events = new_events(decided, ctx.causation_id)
        ctx.store.append_in(conn, f"connector-{connector_id}", events, connector.version)
    rm.revoke_tokens(conn, connector_id)
    return len(token_ids) if decided else None


def log_suspended(connector_id: UUID, reason: str, detection_id: UUID | None, revoked: int) -> None:
    """One warning line per suspension, whoever decided it."""
    log.warning(
        "connector.suspended",
        connector_id=str(connector_id),
        reason=reason,
        detection_id=str(detection_id) if detection_id else None,
        revoked=revoked,  # a count ("tokens" in a key is redacted from every line)
    )


def suspend(
    ctx: Ctx, connector_id: UUID, reason: str, by: UUID | None, detection_id: UUID | None = None
) -> dict[str, Any]:
    """Suspend and revoke every live token, in the transaction that appends ConnectorSuspended."""

    def work() -> int | None:
        with ctx.pool.connection() as conn, conn.transaction():
            return suspend_in(ctx, conn, connector_id, reason, by, detection_id)

    revoked = retrying(work)
    if revoked is not None:
        log_suspended(connector_id, reason, detection_id, revoked)
    return {
        "connector_id": str(connector_id),
        "status": "suspended",
        "changed": revoked is not None,
    }


def suspend_by_operator(
    ctx: Ctx, actor: Actor, connector_id: UUID, data: Mapping[str, Any]
) -> dict[str, Any]:
    """POST /v1/connectors/{id}/suspend: an admin stops a connector."""
    require_admin(actor)
    return suspend(ctx, connector_id, data.get("reason", "operator_request"), actor.principal_id)


def reinstate(ctx: Ctx, actor: Actor, connector_id: UUID) -> dict[str, Any]:
    """An admin lets a suspended connector ask for tokens again; old tokens stay revoked."""
    require_admin(actor)

    def work() -> dict[str, Any]:
        connector = load_connector(ctx, connector_id)
        decided = connector.reinstate(actor.principal_id)
        if decided:
            with ctx.pool.connection() as conn, conn.transaction():
                events = new_events(decided, ctx.causation_id)
                ctx.store.append_in(conn, f"connector-{connector_id}", events, connector.version)
                rm.set_status(conn, connector_id, "active")
            log.info("connector.reinstated", connector_id=str(connector_id))
        return {"connector_id": str(connector_id), "status": "active", "changed": bool(decided)}

    return retrying(work)


def rotate_secret(ctx: Ctx, actor: Actor, connector_id: UUID) -> dict[str, Any]:
    """A new client secret, shown once; the old one and the tokens it got stop working."""
    require_admin(actor)
    secret = new_client_secret()
    hashed = ctx.offload(hash_secret, secret)  # slow: before the transaction

    def work() -> None:
        connector = load_connector(ctx, connector_id)
        with ctx.pool.connection() as conn, conn.transaction():
            # An UPDATE's row lock, not FOR SHARE: a token issue that checked the old secret
            # either committed (its token is revoked below) or waits, then finds the new hash.
            rm.hold_principal(conn, connector_id)
            token_ids = rm.live_token_ids(conn, connector_id)
            decided = connector.rotate_secret(actor.principal_id, token_ids)
            events = new_events(decided, ctx.causation_id)
            ctx.store.append_in(conn, f"connector-{connector_id}", events, connector.version)
            rm.put_secret_hash(conn, connector_id, hashed)
            rm.revoke_tokens(conn, connector_id)

    retrying(work)
    log.info("connector.secret_rotated", connector_id=str(connector_id))
    with ctx.pool.connection() as conn:
        client_id = rm.get_principal(conn, connector_id).client_id  # type: ignore[union-attr]
    return {"connector_id": str(connector_id), "client_id": client_id, "client_secret": secret}
