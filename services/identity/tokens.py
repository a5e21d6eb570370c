"""OAuth2 token issue (client credentials, password), authenticate(token), failed sign-ins."""

from __future__ import annotations

import uuid
from datetime import timedelta
from hmac import compare_digest
from typing import Any
from uuid import UUID

from services.common.errors import Invalid
from services.common.logging import get_logger
from services.identity import readmodels as rm
from services.identity.context import Ctx, new_events
from services.identity.credentials import new_token, token_digest, verify_secret
from services.identity.domain import CONNECTOR_SCOPES
from services.identity.errors import AuthenticationError, oauth_error
from services.identity.settings import BOOTSTRAP_ADMIN_ID
from services.identity.smart import translate

log = get_logger(__name__)

STAFF_SCOPES = {"admin": ["identity:admin"], "investigator": ["audit:investigate"]}
PATIENT_SCOPES = ["patient:self"]


def record_failure(
    ctx: Ctx,
    reason: str,
    address: str,
    request_id: str,
    client_id: str | None = None,
    connector_id: UUID | None = None,
) -> None:
    """AuthenticationFailed (who tried, from where, never the secret) and a warning line."""
    attempt_id = uuid.uuid4()
    payload = {
        "attempt_id": str(attempt_id),
        "client_id": client_id[:200] if client_id else None,
        "connector_id": str(connector_id) if connector_id else None,
        "reason": reason,
        "network_address": address,
        "request_id": request_id[:200] or "unknown",
    }
    ctx.store.append(
        f"authentication-{attempt_id}", new_events([("AuthenticationFailed", payload)]), 0
    )
    log.warning(
        "authentication.failed",
        reason=reason,
        client_id=payload["client_id"],
        connector_id=payload["connector_id"],
        network_address=address,
    )


def _scopes_for(
    principal: rm.Principal, requested: list[str] | None, granted: set[str] | None = None
) -> list[str]:
    """What a principal's token may carry. A connector's: the scopes some practitioner's grant
    backs now (`granted`), so a token never claims what no grant gives; unasked, all of those
    (RFC 6749 §3.3: the answer's `scope` says what was issued). A practitioner's: their own
    agenda's appointment scopes. SMART system scopes stand for identity's (smart.py), read
    here, after the credentials: a bad secret is invalid_client whatever the scope."""
    requested = translate(requested) if requested is not None else None
    if principal.kind == "connector":
        allowed = [s for s in CONNECTOR_SCOPES if s in (granted or set())]
    elif principal.kind == "practitioner":
        allowed = list(CONNECTOR_SCOPES)
    elif principal.kind == "staff":
        allowed = STAFF_SCOPES.get(principal.role or "", [])
    else:
        allowed = PATIENT_SCOPES
    if requested is None:
        return allowed
    if not requested or set(requested) - set(allowed):
        among = " ".join(allowed) or "(none: no practitioner has granted this client a scope)"
        raise oauth_error("invalid_scope", f"scope must be among: {among}")
    return [s for s in allowed if s in requested]


def _issue(
    ctx: Ctx,
    principal: rm.Principal,
    scopes: list[str],
    grant_type: str,
    address: str,
    verified: str | None,
) -> dict[str, Any]:
    """Insert the token's digest and append TokenIssued together, under the principal's row lock.

    `verified` is the hash the secret was checked against, before the transaction (argon2 is
    slow): a reset or rotation that committed meanwhile leaves another hash, or none.
    """
    token, token_id = new_token(), uuid.uuid4()
    expires_at = ctx.clock() + timedelta(seconds=ctx.settings.token_ttl_s)
    connector_id = str(principal.principal_id) if principal.kind == "connector" else None
    payload = {
        "token_id": str(token_id),
        "principal_id": str(principal.principal_id),
        "principal_kind": principal.kind,
        "connector_id": connector_id,
        "grant_type": grant_type,
        "scopes": scopes,
        "field_classes": ["administrative"]
        + (["medical"] if "appointment:read-medical" in scopes else []),
        "expires_at": expires_at.isoformat(),
        "network_address": address,
    }
    with ctx.pool.connection() as conn, conn.transaction():
        ctx.store.append_in(conn, f"token-{token_id}", new_events([("TokenIssued", payload)]), 0)
        # FOR SHARE: a concurrent suspension waits for us (and then revokes this token) or wins.
        if rm.lock_principal(conn, principal.principal_id) != "active":
            raise _Suspended()
        if rm.secret_hash(conn, principal.principal_id) != verified:
            raise _CredentialChanged()
        rm.insert_token(conn, token_id, token_digest(token), principal, scopes, expires_at)
    log.info(
        "token.issued",
        token_id=str(token_id),
        principal_id=str(principal.principal_id),
        principal_kind=principal.kind,
        grant_type=grant_type,
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ctx.settings.token_ttl_s,
        "scope": " ".join(scopes),
    }


class _Suspended(Exception):
    """Raised inside the issue transaction to roll it back."""


class _CredentialChanged(Exception):
    """The secret checked was reset or rotated before the token could be issued."""


def client_credentials(
    ctx: Ctx,
    client_id: str,
    client_secret: str,
    scope: list[str] | None,
    address: str,
    request_id: str,
) -> dict[str, Any]:
    """RFC 6749 §4.4: a connector proves its secret and gets a short-lived token."""
    with ctx.pool.connection() as conn:  # a short read; the slow verify runs after it
        principal = rm.find_by_client_id(conn, client_id)
        stored = rm.secret_hash(conn, principal.principal_id) if principal else None
        grants = rm.grants_of(conn, principal.principal_id) if principal else {}
    connector_id = principal.principal_id if principal else None
    granted = {s for scopes in grants.values() for s in scopes}
    if not ctx.offload(verify_secret, stored, client_secret) or principal is None:
        reason = "invalid_secret" if principal else "unknown_client"
        record_failure(ctx, reason, address, request_id, client_id, connector_id)
        raise oauth_error("invalid_client", "client authentication failed")
    try:
        scopes = _scopes_for(principal, scope, granted)
        if principal.status != "active":
            raise _Suspended()
        return _issue(ctx, principal, scopes, "client_credentials", address, stored)
    except _CredentialChanged:
        record_failure(ctx, "invalid_secret", address, request_id, client_id, connector_id)
        raise oauth_error("invalid_client", "client authentication failed") from None
    except Invalid:  # a scope beyond the principal's (_scopes_for)
        record_failure(ctx, "invalid_scope", address, request_id, client_id, connector_id)
        raise
    except _Suspended:
        record_failure(ctx, "connector_suspended", address, request_id, client_id, connector_id)
        raise oauth_error("invalid_client", "client is suspended") from None


def password(
    ctx: Ctx, username: str, secret: str, scope: list[str] | None, address: str, request_id: str
) -> dict[str, Any]:
    """RFC 6749 §4.3: a practitioner, patient or staff member signs in with their password."""
    with ctx.pool.connection() as conn:
        principal = rm.find_by_login(conn, username)
        stored = rm.secret_hash(conn, principal.principal_id) if principal else None
    # The claimed username may be an e-mail (personal data): name only a known principal.
    who = str(principal.principal_id) if principal else None
    if not ctx.offload(verify_secret, stored, secret) or principal is None:
        record_failure(ctx, "invalid_grant", address, request_id, who)
        raise oauth_error("invalid_grant", "invalid username or password")
    try:
        scopes = _scopes_for(principal, scope)
        return _issue(ctx, principal, scopes, "password", address, stored)
    except Invalid:  # a scope beyond the principal's (_scopes_for)
        record_failure(ctx, "invalid_scope", address, request_id, who)
        raise
    except _CredentialChanged:  # reset while we verified: as if the password were wrong
        record_failure(ctx, "invalid_grant", address, request_id, who)
        raise oauth_error("invalid_grant", "invalid username or password") from None
    except _Suspended:  # the right password of a suspended account: evidence for audit
        record_failure(ctx, "invalid_grant", address, request_id, who)
        raise oauth_error("invalid_grant", "account is suspended") from None


def authenticate(ctx: Ctx, token: str) -> dict[str, Any]:
    """The principal behind a bearer token, with its reach per scope, or AuthenticationError."""
    return authenticate_digest(ctx, token_digest(token))


def parse_digest(text: Any) -> bytes:
    """A token's SHA-256 as other services send it (hex); anything else is an unknown token."""
    try:
        digest = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise AuthenticationError("unknown")
    return digest


def authenticate_digest(ctx: Ctx, digest: bytes) -> dict[str, Any]:
    """authenticate() from the token's SHA-256, which is all identity stores of a token.

    Other services send this digest over RPC, never the token: RPC requests cross the broker,
    and a bearer token must not be readable there (docs/security.md).
    """
    admin = ctx.settings.admin_token
    if admin and compare_digest(digest, token_digest(admin)):
        return {
            "kind": "staff",
            "id": str(BOOTSTRAP_ADMIN_ID),
            "role": "admin",
            "scopes": STAFF_SCOPES["admin"],
            "reach": {},
            "token_id": None,
            "expires_at": None,
        }
    with ctx.pool.connection() as conn:
        row = rm.find_token(conn, digest)
        if row is None:
            raise AuthenticationError("unknown")
        if row.status == "suspended":
            raise AuthenticationError("suspended")
        if row.revoked:
            raise AuthenticationError("revoked")
        if row.expires_at <= ctx.clock():
            raise AuthenticationError("expired")
        reach: dict[str, list[str]] = {}
        if row.kind == "connector":
            granted = rm.grants_of(conn, row.principal_id)
            reach = {s: sorted(p for p, ss in granted.items() if s in ss) for s in row.scopes}
        elif row.kind == "practitioner":
            reach = {s: [str(row.principal_id)] for s in row.scopes}
    return {
        "kind": row.kind,
        "id": str(row.principal_id),
        "role": row.role,
        "scopes": list(row.scopes),
        "reach": reach,
        "token_id": str(row.token_id),
        "expires_at": row.expires_at.isoformat(),
    }
