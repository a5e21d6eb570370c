"""People's accounts (practitioners, patients, staff): suspension, reinstatement, a forced
credential reset and a new password, by an admin; suspension also by policy on a finding.

Like a connector's lifecycle (connectors.py): the Account aggregate decides, and the event is
appended with its read-model change and the revocation of the account's tokens in one
transaction, under the principal's row lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from contracts.identity_accounts import ACCOUNT_KINDS
from services.common.errors import NotFound, Unprocessable
from services.common.logging import get_logger
from services.identity import readmodels as rm
from services.identity.commands import require_admin
from services.identity.context import Actor, Ctx, new_events, retrying
from services.identity.credentials import hash_secret
from services.identity.domain import Account

log = get_logger(__name__)
Conn = Any


def load_account(ctx: Ctx, principal_id: UUID, kind: str | None = None) -> Account:
    """Replay a person's stream; anyone else (a connector, nobody) is not an account."""
    if kind is None:
        with ctx.pool.connection() as conn:
            found = rm.get_principal(conn, principal_id)
        kind = found.kind if found else None
    if kind not in ACCOUNT_KINDS:
        raise NotFound("no such account")
    events = ctx.store.read_stream(f"{kind}-{principal_id}")
    account = Account.from_events(principal_id, ((e.event_type, e.data) for e in events))
    if account.status == "new":
        raise NotFound("no such account")
    return account


def _append(ctx: Ctx, conn: Conn, account: Account, decided: list[Any]) -> None:
    stream = f"{account.kind}-{account.principal_id}"
    ctx.store.append_in(conn, stream, new_events(decided, ctx.causation_id), account.version)


def suspend_in(
    ctx: Ctx,
    conn: Conn,
    account: Account,
    reason: str,
    by: UUID | None,
    detection_id: UUID | None,
) -> int | None:
    """Suspend inside the caller's transaction; the number of revoked tokens, None if no change."""
    pid = account.principal_id
    # The status update row-locks the principal first: a concurrent sign-in (holding FOR
    # SHARE on it) either committed before, and its token is among live_token_ids, or waits
    # and then sees `suspended`.
    rm.set_status(conn, pid, "suspended")
    token_ids = rm.live_token_ids(conn, pid)
    decided = account.suspend(reason, by, detection_id, token_ids)
    if decided:
        _append(ctx, conn, account, decided)
    rm.revoke_tokens(conn, pid)
    return len(token_ids) if decided else None


def log_suspended(
    principal_id: UUID, kind: str | None, reason: str, detection_id: UUID | None, revoked: int
) -> None:
    """One warning line per suspension, whoever decided it."""
    log.warning(
        "account.suspended",
        principal_id=str(principal_id),
        principal_kind=kind,
        reason=reason,
        detection_id=str(detection_id) if detection_id else None,
        revoked=revoked,  # a count ("tokens" in a key is redacted from every line)
    )


def _answer(account: Account, status: str, changed: bool, **more: Any) -> dict[str, Any]:
    return {
        "principal_id": str(account.principal_id),
        "principal_kind": account.kind,
        "status": status,
        "changed": changed,
        **more,
    }


def _not_self(actor: Actor, principal_id: UUID, what: str) -> None:
    """An admin who locks themself out needs another admin anyway: refuse it up front."""
    if actor.principal_id == principal_id:
        raise Unprocessable(f"an admin cannot {what} their own account; ask another admin")


def suspend(ctx: Ctx, actor: Actor, principal_id: UUID, data: Mapping[str, Any]) -> dict[str, Any]:
    """POST /v1/accounts/{id}/suspend: an admin stops a person; their tokens stop working."""
    require_admin(actor)
    _not_self(actor, principal_id, "suspend")
    reason = data.get("reason", "operator_request")

    def work() -> tuple[Account, int | None]:
        account = load_account(ctx, principal_id)
        with ctx.pool.connection() as conn, conn.transaction():
            return account, suspend_in(ctx, conn, account, reason, actor.principal_id, None)

    account, revoked = retrying(work)
    if revoked is not None:
        log_suspended(principal_id, account.kind, reason, None, revoked)
    return _answer(account, "suspended", revoked is not None)


def reinstate(ctx: Ctx, actor: Actor, principal_id: UUID) -> dict[str, Any]:
    """An admin lets a suspended person sign in again; their old tokens stay revoked."""
    require_admin(actor)

    def work() -> tuple[Account, bool]:
        account = load_account(ctx, principal_id)
        decided = account.reinstate(actor.principal_id)
        if decided:
            with ctx.pool.connection() as conn, conn.transaction():
                _append(ctx, conn, account, decided)
                rm.set_status(conn, principal_id, "active")
        return account, bool(decided)

    account, changed = retrying(work)
    if changed:
        log.info("account.reinstated", principal_id=str(principal_id), principal_kind=account.kind)
    return _answer(account, "active", changed)


def reset_credentials(ctx: Ctx, actor: Actor, principal_id: UUID) -> dict[str, Any]:
    """A forced reset: the password is cleared (sign-in fails) and every token is revoked."""
    require_admin(actor)
    _not_self(actor, principal_id, "reset the credentials of")

    def work() -> tuple[Account, int, str]:
        account = load_account(ctx, principal_id)
        with ctx.pool.connection() as conn, conn.transaction():
            # Row lock before the tokens: a sign-in that checked the old password either
            # committed its token (revoked below) or waits, then finds no password (tokens.py).
            status = rm.hold_principal(conn, principal_id)
            token_ids = rm.live_token_ids(conn, principal_id)
            decided = account.reset_credentials(actor.principal_id, None, token_ids)
            _append(ctx, conn, account, decided)
            rm.clear_secret_hash(conn, principal_id)
            rm.revoke_tokens(conn, principal_id)
        return account, len(token_ids), status

    account, revoked, status = retrying(work)
    log.warning(
        "account.credentials_reset",
        principal_id=str(principal_id),
        principal_kind=account.kind,
        revoked=revoked,
    )
    return _answer(account, status, True, password_set=False)


def set_password(ctx: Ctx, actor: Actor, principal_id: UUID, password: str) -> dict[str, Any]:
    """An admin gives a person a password (after a reset); the act is an event, never the value."""
    require_admin(actor)
    load_account(ctx, principal_id)  # 404 before the slow hash
    hashed = ctx.offload(hash_secret, password)  # slow: before the transaction (ADR 0003)

    def work() -> tuple[Account, str]:
        account = load_account(ctx, principal_id)
        with ctx.pool.connection() as conn, conn.transaction():
            status = rm.hold_principal(conn, principal_id)
            _append(ctx, conn, account, account.set_password(actor.principal_id))
            rm.put_secret_hash(conn, principal_id, hashed)
        return account, status

    account, status = retrying(work)
    log.info("account.password_set", principal_id=str(principal_id), principal_kind=account.kind)
    return _answer(account, status, True, password_set=True)
