"""People's accounts, quotas and trust on the real database, as identity's own role (its grants
are part of what is tested): suspend, reinstate, reset and a new password for every kind of
person; quotas and trust on connectors, refused values changing nothing."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from services.common.errors import DomainError, Forbidden, NotFound, Unprocessable
from services.common.eventstore.store import EventStore
from services.identity import accounts, commands, queries, quotas, tokens
from services.identity.context import Actor, Ctx
from services.identity.errors import AuthenticationError
from services.identity.settings import Settings
from tests.security.db_privileges import as_role
from tests.support.stack import ADMIN_TOKEN
from tests.support.stored import identity_events

ADDRESS = "192.0.2.8"
PASSWORD = "synthetic-password-0002"
NEW_PASSWORD = "synthetic-password-0003"
KINDS = ("practitioner", "patient", "staff")


@pytest.fixture
def ctx(role_pool: ConnectionPool) -> Ctx:
    """This module's use cases run as identity's role."""
    return Ctx(role_pool, EventStore(role_pool, "identity"), Settings(admin_token=ADMIN_TOKEN))


def person(ctx: Ctx, admin: Actor, kind: str, password: str | None = PASSWORD) -> uuid.UUID:
    n = uuid.uuid4().hex[:8]
    email = f"{kind}-{n}@example.org"
    if kind == "practitioner":
        body = {"given_name": "Dr", "family_name": f"S-{n}", "specialty": "cardiology"}
        made = commands.register_practitioner(
            ctx, admin, {**body, "email": email, "password": password}
        )
    elif kind == "patient":
        body = {
            "given_name": "T",
            "family_name": f"P-{n}",
            "birth_date": date(1990, 1, 1),
            "gender": "female",
        }
        made = commands.register_patient(ctx, admin, {**body, "email": email, "password": password})
    else:
        body = {"role": "investigator", "display_name": f"Staff {n}", "email": email}
        made = commands.register_staff(ctx, admin, {**body, "password": password})
    return uuid.UUID(made[f"{kind}_id"])


def sign_in(ctx: Ctx, pid: uuid.UUID, password: str = PASSWORD) -> str:
    return tokens.password(ctx, str(pid), password, None, ADDRESS, "r-acc")["access_token"]


def stored(url: str, principal_id: uuid.UUID, event_type: str | None = None) -> list[dict]:
    """identity's events about one principal, oldest first."""
    return [
        e for e in identity_events(url, event_type) if e.get("principal_id") == str(principal_id)
    ]


def refused(ctx: Ctx, token: str) -> str:
    with pytest.raises(AuthenticationError) as error:
        tokens.authenticate(ctx, token)
    return error.value.reason


def sign_in_error(ctx: Ctx, pid: uuid.UUID, password: str = PASSWORD) -> str:
    with pytest.raises(DomainError) as error:
        sign_in(ctx, pid, password)
    assert error.value.code == "invalid_grant"
    return error.value.detail


@pytest.mark.parametrize("kind", KINDS)
def test_suspension_refuses_tokens_and_sign_in_until_reinstated(
    ctx, admin, kind, migrated_database_url
):
    pid = person(ctx, admin, kind)
    token = sign_in(ctx, pid)
    answer = accounts.suspend(ctx, admin, pid, {})
    assert answer == {"principal_id": str(pid), "principal_kind": kind, "status": "suspended",
                      "changed": True}  # fmt: skip
    assert refused(ctx, token) == "suspended"
    assert sign_in_error(ctx, pid) == "account is suspended"
    assert accounts.suspend(ctx, admin, pid, {"reason": "contract_ended"})["changed"] is False

    assert accounts.reinstate(ctx, admin, pid)["status"] == "active"
    assert refused(ctx, token) == "revoked"  # old tokens stay revoked
    assert tokens.authenticate(ctx, sign_in(ctx, pid))["id"] == str(pid)
    assert accounts.reinstate(ctx, admin, pid)["changed"] is False

    mine = stored(migrated_database_url, pid)
    suspended = [e for e in mine if e["type"] == "AccountSuspended"]
    assert len(suspended) == 1 and suspended[0]["suspended_by"] == str(admin.principal_id)
    assert (
        suspended[0]["reason"] == "operator_request" and len(suspended[0]["revoked_token_ids"]) == 1
    )
    assert [e["type"] for e in mine if e["type"] == "AccountReinstated"] == ["AccountReinstated"]
    failed = identity_events(migrated_database_url, "AuthenticationFailed")
    assert any(f["client_id"] == str(pid) and f["reason"] == "invalid_grant" for f in failed)


@pytest.mark.parametrize("kind", KINDS)
def test_a_reset_clears_the_password_and_revokes_until_an_admin_sets_one(ctx, admin, kind):
    pid = person(ctx, admin, kind)
    token = sign_in(ctx, pid)
    answer = accounts.reset_credentials(ctx, admin, pid)
    assert (answer["status"], answer["password_set"]) == ("active", False)
    assert refused(ctx, token) == "revoked"
    assert sign_in_error(ctx, pid) == "invalid username or password"
    view = queries.person(ctx, admin, kind, pid)
    assert view["password_set"] is False and view["status"] == "active"

    assert accounts.set_password(ctx, admin, pid, NEW_PASSWORD)["password_set"] is True
    assert sign_in_error(ctx, pid, PASSWORD) == "invalid username or password"
    assert tokens.authenticate(ctx, sign_in(ctx, pid, NEW_PASSWORD))["kind"] == kind


def test_a_reset_during_suspension_keeps_the_account_suspended(ctx, admin, migrated_database_url):
    pid = person(ctx, admin, "patient")
    accounts.suspend(ctx, admin, pid, {})
    assert accounts.reset_credentials(ctx, admin, pid)["status"] == "suspended"
    accounts.set_password(ctx, admin, pid, NEW_PASSWORD)
    assert sign_in_error(ctx, pid, NEW_PASSWORD) == "account is suspended"
    events = stored(migrated_database_url, pid)
    assert [e["type"] for e in events][-2:] == ["CredentialsReset", "CredentialsSet"]
    assert not any(PASSWORD in str(e) or NEW_PASSWORD in str(e) for e in events)


def test_only_admins_and_never_on_themselves_or_on_a_connector(ctx, admin):
    pid = person(ctx, admin, "patient", password=None)
    me = Actor(pid, "patient")
    for call in (
        lambda: accounts.suspend(ctx, me, pid, {}),
        lambda: accounts.reset_credentials(ctx, me, pid),
        lambda: accounts.set_password(ctx, me, pid, NEW_PASSWORD),
        lambda: accounts.reinstate(ctx, Actor(uuid.uuid4(), "staff", "investigator"), pid),
    ):
        with pytest.raises(Forbidden):
            call()
    staff_admin = Actor(person(ctx, admin, "staff", password=None), "staff", "admin")
    with pytest.raises(Unprocessable):
        accounts.suspend(ctx, staff_admin, staff_admin.principal_id, {})
    with pytest.raises(Unprocessable):
        accounts.reset_credentials(ctx, staff_admin, staff_admin.principal_id)
    assert accounts.suspend(ctx, staff_admin, pid, {})["changed"]  # a staff admin may
    c = commands.register_connector(ctx, admin, {"name": "S", "vendor": "V",
                                                 "contact_email": "o@example.org"})  # fmt: skip
    for target in (uuid.UUID(c["connector_id"]), uuid.uuid4()):
        with pytest.raises(NotFound):
            accounts.suspend(ctx, admin, target, {})


def connector(ctx: Ctx, admin: Actor) -> uuid.UUID:
    c = commands.register_connector(ctx, admin, {"name": "S", "vendor": "V",
                                                 "contact_email": "o@example.org"})  # fmt: skip
    return uuid.UUID(c["connector_id"])


def test_a_quota_is_recorded_shown_and_replaced(ctx, admin, migrated_database_url):
    cid = connector(ctx, admin)
    assert queries.connector(ctx, admin, cid)["quota"] is None
    until = ctx.clock() + timedelta(days=2)
    answer = quotas.set_quota(ctx, admin, cid, {"per_hour": 3000, "burst": 300, "until": until})
    assert answer == {"connector_id": str(cid), "per_hour": 3000, "burst": 300,
                      "until": until.isoformat(), "reason": "operator"}  # fmt: skip
    quotas.set_quota(ctx, admin, cid, {"per_hour": 1200, "burst": 120, "until": None})
    view = queries.connector(ctx, admin, cid)
    assert (view["quota"]["per_hour"], view["quota"]["until"], view["throttle"]) == (
        1200,
        None,
        None,
    )
    by = str(admin.principal_id)
    recorded = [
        (e["per_hour"], e["reason"], e["set_by"]) for e in stored(migrated_database_url, cid)
    ]
    assert recorded == [(3000, "operator", by), (1200, "operator", by)]


@pytest.mark.parametrize(
    "values",
    [
        {"per_hour": 0, "burst": 1},
        {"per_hour": -1, "burst": 1},
        {"per_hour": 10**12, "burst": 10},
        {"per_hour": 100, "burst": 500},
        {"per_hour": 100, "burst": 10, "until": "past"},
    ],
)
def test_a_refused_quota_changes_nothing(ctx, admin, values, migrated_database_url):
    cid = connector(ctx, admin)
    if values.get("until") == "past":
        values = {**values, "until": ctx.clock() - timedelta(minutes=1)}
    before = len(identity_events(migrated_database_url, "QuotaSet"))
    with pytest.raises(Unprocessable):
        quotas.set_quota(ctx, admin, cid, {"until": None, **values})
    assert len(identity_events(migrated_database_url, "QuotaSet")) == before
    assert queries.connector(ctx, admin, cid)["quota"] is None


def test_quota_and_trust_need_an_admin_and_a_connector(ctx, admin):
    cid, pid = connector(ctx, admin), person(ctx, admin, "patient", password=None)
    values = {"per_hour": 10, "burst": 1, "until": None}
    with pytest.raises(Forbidden):
        quotas.set_quota(ctx, Actor(pid, "patient"), cid, values)
    for target in (pid, uuid.uuid4()):
        with pytest.raises(NotFound):
            quotas.set_quota(ctx, admin, target, values)
        with pytest.raises(NotFound):
            quotas.trust(ctx, admin, target, {"hours": 2, "reason": "migration"})


def test_trust_is_recorded_and_shown_until_it_ends(ctx, admin, migrated_database_url):
    cid = connector(ctx, admin)
    answer = quotas.trust(ctx, admin, cid, {"hours": 24, "reason": "planned migration"})
    until = answer["trusted_until"]
    assert queries.connector(ctx, admin, cid)["trusted_until"] == until
    (event,) = stored(migrated_database_url, cid, "PrincipalTrusted")
    assert (event["until"], event["trusted_by"]) == (until, str(admin.principal_id))
    later = ctx.clock() + timedelta(hours=25)
    ctx.clock = lambda: later
    assert queries.connector(ctx, admin, cid)["trusted_until"] is None
    with pytest.raises(Unprocessable):
        quotas.trust(ctx, admin, cid, {"hours": 169, "reason": "too long"})


def test_the_identity_role_may_clear_a_password_and_nothing_else_new(migrated_database_url):
    with psycopg.connect(as_role(migrated_database_url, "carnet_identity")) as conn:
        granted = conn.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = 'carnet_identity' AND table_name IN ('quotas', 'credentials')"
        ).fetchall()
    assert set(granted) == {
        ("quotas", "SELECT"), ("quotas", "INSERT"), ("quotas", "UPDATE"),
        ("credentials", "SELECT"), ("credentials", "INSERT"), ("credentials", "UPDATE"),
        ("credentials", "DELETE"),
    }  # fmt: skip
