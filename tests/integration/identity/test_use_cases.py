"""Identity's use cases on the real database: grants, tokens, suspension, rotation, at rest."""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import timedelta

import psycopg
import pytest

from services.common.errors import DomainError, Forbidden
from services.identity import commands, connectors, tokens
from services.identity.context import Actor
from services.identity.errors import AuthenticationError
from tests.support.stored import identity_events

ADDRESS = "192.0.2.7"


def practitioner(ctx, admin, password=None):
    data = {
        "given_name": "Test",
        "family_name": "Practitioner",
        "specialty": "general practice",
        "email": f"p-{uuid.uuid4().hex[:8]}@example.org",
        "password": password,
    }
    return commands.register_practitioner(ctx, admin, data)


def connector(ctx, admin):
    data = {"name": "Soft", "vendor": "Vendor", "contact_email": "ops@example.org"}
    return commands.register_connector(ctx, admin, data)


def token_for(ctx, c, scope=None):
    return tokens.client_credentials(ctx, c["client_id"], c["client_secret"], scope, ADDRESS, "r1")


def test_client_credentials_reach_follows_grants(ctx, admin):
    p, c = practitioner(ctx, admin), connector(ctx, admin)
    ungranted = token_for(ctx, c)
    assert ungranted["token_type"] == "Bearer" and ungranted["expires_in"] == 900
    assert ungranted["scope"] == ""  # no grant backs any scope: the token claims none (#18)
    principal = tokens.authenticate(ctx, ungranted["access_token"])
    assert principal["kind"] == "connector" and principal["id"] == c["connector_id"]
    assert principal["scopes"] == [] and principal["reach"] == {}

    me = Actor(uuid.UUID(p["practitioner_id"]), "practitioner")
    commands.grant(ctx, me, me.principal_id, uuid.UUID(c["connector_id"]), ["appointment:read"])
    access = token_for(ctx, c)
    assert access["scope"] == "appointment:read"  # narrowed to what the grants back, said so
    reach = tokens.authenticate(ctx, access["access_token"])["reach"]
    assert reach == {"appointment:read": [p["practitioner_id"]]}

    commands.revoke_grant(ctx, me, me.principal_id, uuid.UUID(c["connector_id"]))
    assert tokens.authenticate(ctx, access["access_token"])["reach"]["appointment:read"] == []


def test_a_scope_no_grant_backs_is_refused_when_asked_for(ctx, admin):
    p, c = practitioner(ctx, admin), connector(ctx, admin)
    me = Actor(uuid.UUID(p["practitioner_id"]), "practitioner")
    commands.grant(ctx, me, me.principal_id, uuid.UUID(c["connector_id"]), ["appointment:read"])
    with pytest.raises(DomainError) as refused:
        token_for(ctx, c, ["appointment:read", "appointment:read-medical"])
    assert refused.value.code == "invalid_scope"
    assert token_for(ctx, c, ["appointment:read"])["scope"] == "appointment:read"


def test_practitioner_cannot_grant_on_anothers_agenda(ctx, admin):
    p, other, c = practitioner(ctx, admin), practitioner(ctx, admin), connector(ctx, admin)
    me = Actor(uuid.UUID(p["practitioner_id"]), "practitioner")
    with pytest.raises(Forbidden):
        commands.grant(
            ctx,
            me,
            uuid.UUID(other["practitioner_id"]),
            uuid.UUID(c["connector_id"]),
            ["appointment:read"],
        )


def test_wrong_secret_is_invalid_client_and_an_event_without_the_secret(
    ctx, admin, migrated_database_url
):
    c = connector(ctx, admin)
    with pytest.raises(DomainError) as error:
        tokens.client_credentials(ctx, c["client_id"], "wrong-secret-xyz", None, ADDRESS, "r2")
    assert (error.value.code, error.value.kind) == ("invalid_client", "unauthorized")  # 401
    failed = identity_events(migrated_database_url, "AuthenticationFailed")[-1]
    assert failed["reason"] == "invalid_secret" and failed["connector_id"] == c["connector_id"]
    assert "wrong-secret-xyz" not in str(failed)


def test_suspension_revokes_tokens_and_reinstatement_is_explicit(ctx, admin):
    c = connector(ctx, admin)
    access = token_for(ctx, c)
    cid = uuid.UUID(c["connector_id"])
    result = connectors.suspend(ctx, cid, "suspicious_access", None, uuid.uuid4())
    assert result["changed"]
    with pytest.raises(AuthenticationError) as error:
        tokens.authenticate(ctx, access["access_token"])
    assert error.value.reason == "suspended"
    with pytest.raises(DomainError):
        token_for(ctx, c)
    connectors.reinstate(ctx, admin, cid)
    with pytest.raises(AuthenticationError) as error:  # old tokens stay revoked
        tokens.authenticate(ctx, access["access_token"])
    assert error.value.reason == "revoked"
    assert tokens.authenticate(ctx, token_for(ctx, c)["access_token"])["kind"] == "connector"


def test_rotation_invalidates_old_secret_and_tokens(ctx, admin):
    c = connector(ctx, admin)
    access = token_for(ctx, c)
    rotated = connectors.rotate_secret(ctx, admin, uuid.UUID(c["connector_id"]))
    with pytest.raises(DomainError):
        token_for(ctx, c)
    with pytest.raises(AuthenticationError):
        tokens.authenticate(ctx, access["access_token"])
    assert token_for(ctx, {**c, "client_secret": rotated["client_secret"]})["access_token"]


def test_password_sign_in_by_email_and_hashes_at_rest(ctx, admin, migrated_database_url):
    p = practitioner(ctx, admin, password="correct horse battery")
    access = tokens.password(ctx, p["email"].upper(), "correct horse battery", None, ADDRESS, "r3")
    principal = tokens.authenticate(ctx, access["access_token"])
    assert principal["kind"] == "practitioner"
    assert principal["reach"]["appointment:read"] == [p["practitioner_id"]]
    with pytest.raises(DomainError) as error:
        tokens.password(ctx, p["email"], "wrong", None, ADDRESS, "r4")
    assert error.value.code == "invalid_grant"
    with psycopg.connect(migrated_database_url) as conn:
        hashes = [r[0] for r in conn.execute("SELECT secret_hash FROM identity.credentials")]
        digests = [bytes(r[0]) for r in conn.execute("SELECT token_hash FROM identity.tokens")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert all(len(d) == 32 for d in digests)
    assert access["access_token"].encode() not in digests


def test_unknown_and_expired_tokens(ctx, admin):
    with pytest.raises(AuthenticationError) as error:
        tokens.authenticate(ctx, "no-such-token")
    assert error.value.reason == "unknown"
    c = connector(ctx, admin)
    access = token_for(ctx, c)
    later = ctx.clock() + timedelta(hours=1)
    ctx.clock = lambda: later
    with pytest.raises(AuthenticationError) as error:
        tokens.authenticate(ctx, access["access_token"])
    assert error.value.reason == "expired"


def test_no_token_issued_concurrently_with_a_suspension_survives_it(ctx, admin):
    c = connector(ctx, admin)
    issued: list[str] = [token_for(ctx, c)["access_token"]]

    def issue() -> None:
        for _ in range(4):
            with contextlib.suppress(DomainError):  # refused once the suspension committed
                issued.append(token_for(ctx, c)["access_token"])

    threads = [threading.Thread(target=issue) for _ in range(3)]
    for t in threads:
        t.start()
    connectors.suspend(ctx, uuid.UUID(c["connector_id"]), "operator_request", admin.principal_id)
    for t in threads:
        t.join(60)
    for token in issued:
        with pytest.raises(AuthenticationError):
            tokens.authenticate(ctx, token)
