"""Identity's read models (principals, credentials, grants, tokens), in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

Conn = Any  # a psycopg.Connection inside the caller's transaction


@dataclass(frozen=True)
class Principal:
    """A row of identity.principals."""

    principal_id: UUID
    kind: str
    email: str | None
    client_id: str | None
    role: str | None
    status: str
    profile: dict[str, Any]
    trusted_until: datetime | None = None  # PrincipalTrusted: no automatic response before it

    def trusted_at(self, now: datetime) -> bool:
        """An operator vouched for this principal until after `now`."""
        return self.trusted_until is not None and self.trusted_until > now


@dataclass(frozen=True)
class Quota:
    """The latest QuotaSet of one reason (operator, throttle) for a principal."""

    reason: str
    per_hour: int
    burst: int
    until: datetime | None
    detection_id: UUID | None
    set_at: datetime

    def in_force_at(self, now: datetime) -> bool:
        """Not yet expired (an operator quota without `until` never expires)."""
        return self.until is None or self.until > now


@dataclass(frozen=True)
class TokenRow:
    """A token looked up by digest, with its holder's current status."""

    token_id: UUID
    principal_id: UUID
    kind: str
    scopes: list[str]
    expires_at: datetime
    revoked: bool
    status: str
    role: str | None


_PRINCIPAL = (
    "SELECT principal_id, kind, email, client_id, role, status, profile, trusted_until"
    " FROM identity.principals"
)


def insert_principal(conn: Conn, p: Principal) -> None:
    """A newly registered principal, in the transaction of its Registered event."""
    conn.execute(
        "INSERT INTO identity.principals"
        " (principal_id, kind, email, client_id, role, status, profile)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (p.principal_id, p.kind, p.email, p.client_id, p.role, p.status, Jsonb(p.profile)),
    )


def get_principal(conn: Conn, principal_id: UUID, kind: str | None = None) -> Principal | None:
    """One principal by id (and kind, when given)."""
    row = conn.execute(f"{_PRINCIPAL} WHERE principal_id = %s", (principal_id,)).fetchone()
    principal = Principal(*row) if row else None
    return principal if principal and (kind is None or principal.kind == kind) else None


def find_by_login(conn: Conn, username: str) -> Principal | None:
    """A person signing in by id or e-mail (connectors sign in by client_id, elsewhere)."""
    try:
        row = conn.execute(
            f"{_PRINCIPAL} WHERE principal_id = %s AND kind <> 'connector'", (UUID(username),)
        ).fetchone()
    except ValueError:
        rows = conn.execute(
            f"{_PRINCIPAL} WHERE lower(email) = lower(%s) AND kind <> 'connector' LIMIT 2",
            (username,),
        ).fetchall()
        # One e-mail may be a practitioner's and a patient's: then only the id can say who.
        row = rows[0] if len(rows) == 1 else None
    return Principal(*row) if row else None


def find_by_client_id(conn: Conn, client_id: str) -> Principal | None:
    """A connector by its public client_id."""
    row = conn.execute(f"{_PRINCIPAL} WHERE client_id = %s", (client_id,)).fetchone()
    return Principal(*row) if row else None


def lock_principal(conn: Conn, principal_id: UUID) -> str | None:
    """The principal's status, row-locked so a suspension and a token issue serialise."""
    row = conn.execute(
        "SELECT status FROM identity.principals WHERE principal_id = %s FOR SHARE", (principal_id,)
    ).fetchone()
    return row[0] if row else None


def hold_principal(conn: Conn, principal_id: UUID) -> str | None:
    """Row-lock the principal as an UPDATE does, so concurrent token issues (FOR SHARE) wait
    for the caller's commit; its status."""
    row = conn.execute(
        "UPDATE identity.principals SET updated_at = now() WHERE principal_id = %s"
        " RETURNING status",
        (principal_id,),
    ).fetchone()
    return row[0] if row else None


def set_status(conn: Conn, principal_id: UUID, status: str) -> None:
    """Suspend or reinstate (the row lock it takes orders concurrent token issues after it)."""
    conn.execute(
        "UPDATE identity.principals SET status = %s, updated_at = now() WHERE principal_id = %s",
        (status, principal_id),
    )


def set_trusted_until(conn: Conn, principal_id: UUID, until: datetime) -> None:
    """PrincipalTrusted, in its event's transaction."""
    conn.execute(
        "UPDATE identity.principals SET trusted_until = %s, updated_at = now()"
        " WHERE principal_id = %s",
        (until, principal_id),
    )


def put_quota(conn: Conn, principal_id: UUID, payload: dict[str, Any]) -> None:
    """QuotaSet (its JSON form), in its event's transaction: the latest of its reason wins."""
    conn.execute(
        "INSERT INTO identity.quotas"
        " (principal_id, reason, per_hour, burst, until, detection_id, set_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, now())"
        " ON CONFLICT (principal_id, reason) DO UPDATE SET per_hour = EXCLUDED.per_hour,"
        " burst = EXCLUDED.burst, until = EXCLUDED.until,"
        " detection_id = EXCLUDED.detection_id, set_at = EXCLUDED.set_at",
        (
            principal_id,
            payload["reason"],
            payload["per_hour"],
            payload["burst"],
            payload["until"],
            payload["detection_id"],
        ),
    )


def quotas_of(conn: Conn, principal_id: UUID) -> dict[str, Quota]:
    """reason -> the latest QuotaSet of that reason for the principal."""
    rows = conn.execute(
        "SELECT reason, per_hour, burst, until, detection_id, set_at FROM identity.quotas"
        " WHERE principal_id = %s",
        (principal_id,),
    ).fetchall()
    return {r[0]: Quota(*r) for r in rows}


def secret_hash(conn: Conn, principal_id: UUID) -> str | None:
    """The stored argon2id hash, or None when the principal has no credential."""
    row = conn.execute(
        "SELECT secret_hash FROM identity.credentials WHERE principal_id = %s", (principal_id,)
    ).fetchone()
    return row[0] if row else None


def put_secret_hash(conn: Conn, principal_id: UUID, hashed: str) -> None:
    """Set or replace a credential (registration, rotation)."""
    conn.execute(
        "INSERT INTO identity.credentials (principal_id, secret_hash) VALUES (%s, %s)"
        " ON CONFLICT (principal_id) DO UPDATE"
        " SET secret_hash = EXCLUDED.secret_hash, updated_at = now()",
        (principal_id, hashed),
    )


def clear_secret_hash(conn: Conn, principal_id: UUID) -> None:
    """CredentialsReset: the password is gone, so signing in fails until a new one is set."""
    conn.execute("DELETE FROM identity.credentials WHERE principal_id = %s", (principal_id,))


def put_grant(
    conn: Conn, connector_id: UUID, practitioner_id: UUID, grant_id: UUID, scopes: Sequence[str]
) -> None:
    """A grant as the latest ConnectorAuthorized says."""
    conn.execute(
        "INSERT INTO identity.grants (connector_id, practitioner_id, grant_id, scopes)"
        " VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (connector_id, practitioner_id) DO UPDATE"
        " SET grant_id = EXCLUDED.grant_id, scopes = EXCLUDED.scopes, granted_at = now()",
        (connector_id, practitioner_id, grant_id, list(scopes)),
    )


def delete_grant(conn: Conn, connector_id: UUID, practitioner_id: UUID) -> None:
    """A revoked grant."""
    conn.execute(
        "DELETE FROM identity.grants WHERE connector_id = %s AND practitioner_id = %s",
        (connector_id, practitioner_id),
    )


def grants_of(conn: Conn, connector_id: UUID) -> dict[str, list[str]]:
    """practitioner id -> scopes granted to this connector."""
    rows = conn.execute(
        "SELECT practitioner_id, scopes FROM identity.grants"
        " WHERE connector_id = %s ORDER BY practitioner_id",
        (connector_id,),
    ).fetchall()
    return {str(p): list(s) for p, s in rows}


def grants_by(conn: Conn, practitioner_id: UUID) -> dict[str, list[str]]:
    """connector id -> scopes this practitioner granted."""
    rows = conn.execute(
        "SELECT connector_id, scopes FROM identity.grants"
        " WHERE practitioner_id = %s ORDER BY connector_id",
        (practitioner_id,),
    ).fetchall()
    return {str(c): list(s) for c, s in rows}


def insert_token(
    conn: Conn,
    token_id: UUID,
    digest: bytes,
    principal: Principal,
    scopes: Sequence[str],
    expires_at: datetime,
) -> None:
    """A token by digest only."""
    conn.execute(
        "INSERT INTO identity.tokens (token_id, token_hash, principal_id, kind, scopes, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (token_id, digest, principal.principal_id, principal.kind, list(scopes), expires_at),
    )


def live_token_ids(conn: Conn, principal_id: UUID) -> list[UUID]:
    """Unrevoked tokens of a principal, locked so none escapes a concurrent revocation."""
    rows = conn.execute(
        "SELECT token_id FROM identity.tokens WHERE principal_id = %s AND NOT revoked"
        " AND expires_at > now() ORDER BY token_id FOR UPDATE",
        (principal_id,),
    ).fetchall()
    return [r[0] for r in rows]


def revoke_tokens(conn: Conn, principal_id: UUID) -> None:
    """Every token of the principal stops working (expired ones included)."""
    conn.execute(
        "UPDATE identity.tokens SET revoked = true WHERE principal_id = %s AND NOT revoked",
        (principal_id,),
    )


def find_token(conn: Conn, digest: bytes) -> TokenRow | None:
    """A token by digest, with its holder's status and role."""
    row = conn.execute(
        "SELECT t.token_id, t.principal_id, t.kind, t.scopes, t.expires_at, t.revoked,"
        " p.status, p.role FROM identity.tokens t"
        " JOIN identity.principals p USING (principal_id) WHERE t.token_hash = %s",
        (digest,),
    ).fetchone()
    return TokenRow(*row) if row else None
