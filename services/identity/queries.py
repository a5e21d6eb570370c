"""What identity's resources look like to whoever may see them (the read use cases)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.common.errors import Forbidden, NotFound
from services.identity import readmodels as rm
from services.identity.context import Actor, Ctx
from services.identity.quotas import view


def _may_see(actor: Actor, principal_id: UUID) -> None:
    """Admins see everyone; a person sees themself."""
    if not (actor.is_admin or actor.principal_id == principal_id):
        raise Forbidden("admins, or the person themself, only")


def person(ctx: Ctx, actor: Actor, kind: str, principal_id: UUID) -> dict[str, Any]:
    """A practitioner, patient or staff member as registered (never their credential)."""
    _may_see(actor, principal_id)
    with ctx.pool.connection() as conn:
        found = rm.get_principal(conn, principal_id, kind)
    if found is None:
        raise NotFound(f"no such {kind}")
    return {
        f"{kind}_id": str(principal_id),
        **found.profile,
        "status": found.status,
        "password_set": _has_secret(ctx, principal_id),
    }


def _has_secret(ctx: Ctx, principal_id: UUID) -> bool:
    with ctx.pool.connection() as conn:
        return rm.secret_hash(conn, principal_id) is not None


def connector(ctx: Ctx, actor: Actor, connector_id: UUID) -> dict[str, Any]:
    """A connector, its status, grants, quotas in force and trust (admins only)."""
    if not actor.is_admin:
        raise Forbidden("admins only")
    with ctx.pool.connection() as conn:
        found = rm.get_principal(conn, connector_id, "connector")
        grants = rm.grants_of(conn, connector_id) if found else {}
        quotas = rm.quotas_of(conn, connector_id) if found else {}
    if found is None:
        raise NotFound("no such connector")
    now = ctx.clock()
    profile = {k: v for k, v in found.profile.items() if k != "registered_by"}
    return {
        "connector_id": str(connector_id),
        **profile,
        "status": found.status,
        "grants": grants,
        "quota": view(quotas.get("operator"), now),
        "throttle": view(quotas.get("throttle"), now),
        "trusted_until": found.trusted_until.isoformat() if found.trusted_at(now) else None,
    }


def grants_of_practitioner(ctx: Ctx, actor: Actor, practitioner_id: UUID) -> dict[str, Any]:
    """Which connectors a practitioner granted what."""
    _may_see(actor, practitioner_id)
    with ctx.pool.connection() as conn:
        if rm.get_principal(conn, practitioner_id, "practitioner") is None:
            raise NotFound("no such practitioner")
        grants = rm.grants_by(conn, practitioner_id)
    return {"practitioner_id": str(practitioner_id), "grants": grants}
