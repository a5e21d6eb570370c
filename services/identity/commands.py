"""Identity's use cases for people, connectors and grants: load, decide, append with read models."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import psycopg

from services.common.errors import Conflict, Forbidden, NotFound
from services.common.logging import get_logger
from services.identity import readmodels as rm
from services.identity.context import Actor, Ctx, new_events, retrying
from services.identity.credentials import hash_secret, new_client_secret
from services.identity.domain import Connector, Decided

log = get_logger(__name__)


def require_admin(actor: Actor) -> None:
    """Registrations and connector lifecycle are for admins (staff admin or bootstrap)."""
    if not actor.is_admin:
        raise Forbidden("only an admin may do this")


def _register(
    ctx: Ctx,
    kind: str,
    principal_id: UUID,
    decided: Decided,
    email: str | None,
    password: str | None,
    role: str | None = None,
    client_id: str | None = None,
) -> None:
    """Append the Registered event and write the principal (and its hash) in one transaction."""
    # argon2 is slow on purpose: hash before the transaction opens (ADR 0003: no long writers).
    hashed = ctx.offload(hash_secret, password) if password else None
    events = new_events([decided], ctx.causation_id)
    profile = {k: v for k, v in decided[1].items() if not k.endswith("_id") or k == "client_id"}
    try:
        with ctx.pool.connection() as conn, conn.transaction():
            # Append first: the stream's expected version 0 refuses a second registration.
            ctx.store.append_in(conn, f"{kind}-{principal_id}", events, expected_version=0)
            rm.insert_principal(
                conn, rm.Principal(principal_id, kind, email, client_id, role, "active", profile)
            )
            if hashed:
                rm.put_secret_hash(conn, principal_id, hashed)
    except psycopg.errors.UniqueViolation as error:
        raise Conflict(f"a {kind} with this e-mail already exists") from error
    log.info(f"{kind}.registered", principal_id=str(principal_id), event_id=str(events[0].event_id))


def register_practitioner(ctx: Ctx, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    """An admin registers a practitioner (optionally with a password to sign in)."""
    require_admin(actor)
    pid = uuid.uuid4()
    payload = {
        "practitioner_id": str(pid),
        "rpps": data.get("rpps"),
        "given_name": data["given_name"],
        "family_name": data["family_name"],
        "specialty": data["specialty"],
        "email": data.get("email"),
        "phone": data.get("phone"),
    }
    _register(
        ctx,
        "practitioner",
        pid,
        ("PractitionerRegistered", payload),
        payload["email"],
        data.get("password"),
    )
    return payload


def register_patient(ctx: Ctx, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    """An admin registers a patient with the contact details notification needs."""
    require_admin(actor)
    pid = uuid.uuid4()
    payload = {
        "patient_id": str(pid),
        "given_name": data["given_name"],
        "family_name": data["family_name"],
        "birth_date": data["birth_date"].isoformat(),
        "gender": data["gender"],
        "email": data.get("email"),
        "phone": data.get("phone"),
        "preferred_language": data.get("preferred_language", "fr"),
    }
    _register(
        ctx, "patient", pid, ("PatientRegistered", payload), payload["email"], data.get("password")
    )
    return payload


def register_staff(ctx: Ctx, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    """An admin registers an admin or an investigator."""
    require_admin(actor)
    sid = uuid.uuid4()
    payload = {
        "staff_id": str(sid),
        "role": data["role"],
        "display_name": data["display_name"],
        "email": data.get("email"),
        "registered_by": str(actor.principal_id),
    }
    decided = ("StaffRegistered", payload)
    _register(ctx, "staff", sid, decided, payload["email"], data.get("password"), role=data["role"])
    return payload


def register_connector(ctx: Ctx, actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    """An admin registers a connector; the client secret is returned here and never again."""
    require_admin(actor)
    cid = uuid.uuid4()
    client_id = f"cn-{secrets.token_hex(8)}"
    secret = new_client_secret()
    decided = Connector(cid).register(
        client_id, data["name"], data["vendor"], data["contact_email"], actor.principal_id
    )
    _register(ctx, "connector", cid, decided[0], None, secret, client_id=client_id)
    return {**decided[0][1], "status": "active", "client_secret": secret}


def load_connector(ctx: Ctx, connector_id: UUID) -> Connector:
    """Replay a connector's stream (grants, status)."""
    events = ctx.store.read_stream(f"connector-{connector_id}")
    connector = Connector.from_events(connector_id, ((e.event_type, e.data) for e in events))
    if connector.status == "new":
        raise NotFound("no such connector")
    return connector


def _practitioner_exists(ctx: Ctx, practitioner_id: UUID) -> None:
    with ctx.pool.connection() as conn:
        if rm.get_principal(conn, practitioner_id, "practitioner") is None:
            raise NotFound("no such practitioner")


def _may_grant(actor: Actor, practitioner_id: UUID) -> None:
    if not (
        actor.is_admin or (actor.kind == "practitioner" and actor.principal_id == practitioner_id)
    ):
        raise Forbidden("a practitioner may grant on their own agenda only")


def grant(
    ctx: Ctx, actor: Actor, practitioner_id: UUID, connector_id: UUID, scopes: list[str]
) -> dict[str, Any]:
    """A practitioner (or an admin for them) grants a connector scopes on their agenda."""
    _may_grant(actor, practitioner_id)
    _practitioner_exists(ctx, practitioner_id)

    def work() -> dict[str, Any]:
        connector = load_connector(ctx, connector_id)
        decided = connector.authorize(practitioner_id, scopes, actor.principal_id, uuid.uuid4())
        if decided:
            with ctx.pool.connection() as conn, conn.transaction():
                ctx.store.append_in(
                    conn, f"connector-{connector_id}", new_events(decided), connector.version
                )
                for event_type, data in decided:
                    connector.apply(event_type, data)
                g = connector.grants[practitioner_id]
                rm.put_grant(conn, connector_id, practitioner_id, g.grant_id, g.scopes)
            log.info(
                "connector.authorized",
                connector_id=str(connector_id),
                practitioner_id=str(practitioner_id),
            )
        g = connector.grants[practitioner_id]
        return {
            "grant_id": str(g.grant_id),
            "connector_id": str(connector_id),
            "practitioner_id": str(practitioner_id),
            "scopes": list(g.scopes),
        }

    return retrying(work)


def revoke_grant(
    ctx: Ctx, actor: Actor, practitioner_id: UUID, connector_id: UUID
) -> dict[str, Any]:
    """Withdraw a grant; the event tells caches to drop the connector's principals."""
    _may_grant(actor, practitioner_id)

    def work() -> dict[str, Any]:
        connector = load_connector(ctx, connector_id)
        decided = connector.revoke(practitioner_id, actor.principal_id)
        if not decided:
            raise NotFound("no such grant")
        with ctx.pool.connection() as conn, conn.transaction():
            ctx.store.append_in(
                conn, f"connector-{connector_id}", new_events(decided), connector.version
            )
            rm.delete_grant(conn, connector_id, practitioner_id)
        log.info(
            "connector.authorization_revoked",
            connector_id=str(connector_id),
            practitioner_id=str(practitioner_id),
        )
        return {
            "connector_id": str(connector_id),
            "practitioner_id": str(practitioner_id),
            "revoked": True,
        }

    return retrying(work)
