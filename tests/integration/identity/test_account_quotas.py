"""Quotas and trust on a person's account (issue #19, every principal kind): an admin sets them
like a connector's; the events name the account's kind; refusals change nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.common.errors import Forbidden, NotFound, Unprocessable
from services.identity import queries, quotas
from services.identity import readmodels as rm
from services.identity.context import Actor
from tests.integration.identity.test_accounts import KINDS, connector, ctx, person, stored
from tests.support.stored import identity_events

VALUES = {"per_hour": 600, "burst": 60, "until": None}
__all__ = ["ctx"]  # the fixture, shared with test_accounts.py


@pytest.mark.parametrize("kind", KINDS)
def test_a_quota_and_trust_on_an_account_are_recorded_with_its_kind(
    ctx, admin, kind, migrated_database_url
):
    pid = person(ctx, admin, kind, password=None)
    answer = quotas.set_quota(ctx, admin, pid, VALUES, quotas.ACCOUNTS)
    assert answer == {"principal_id": str(pid), "principal_kind": kind, "per_hour": 600,
                      "burst": 60, "until": None, "reason": "operator"}  # fmt: skip
    (quota,) = stored(migrated_database_url, pid, "QuotaSet")
    assert (quota["principal_kind"], quota["per_hour"], quota["burst"]) == (kind, 600, 60)
    trusted = quotas.trust(ctx, admin, pid, {"hours": 8, "reason": "bulk export"}, quotas.ACCOUNTS)
    assert (trusted["principal_id"], trusted["principal_kind"]) == (str(pid), kind)
    (event,) = stored(migrated_database_url, pid, "PrincipalTrusted")
    assert (event["principal_kind"], event["until"]) == (kind, trusted["trusted_until"])
    later = ctx.clock() + timedelta(hours=7)
    with ctx.pool.connection() as conn:  # identity's containment then skips it (trusted_at)
        assert rm.get_principal(conn, pid).trusted_at(later)


def test_the_accounts_paths_take_people_only_and_never_the_admins_own(
    ctx, admin, migrated_database_url
):
    cid, pid = connector(ctx, admin), person(ctx, admin, "patient", password=None)
    for target in (cid, uuid.uuid4()):  # a connector is set on its own path
        with pytest.raises(NotFound, match="no such account"):
            quotas.set_quota(ctx, admin, target, VALUES, quotas.ACCOUNTS)
        with pytest.raises(NotFound, match="no such account"):
            quotas.trust(ctx, admin, target, {"hours": 1, "reason": "x"}, quotas.ACCOUNTS)
    with pytest.raises(NotFound, match="no such connector"):  # and a person on theirs
        quotas.set_quota(ctx, admin, pid, VALUES)
    staff_admin = Actor(person(ctx, admin, "staff", password=None), "staff", "admin")
    before = len(identity_events(migrated_database_url))
    with pytest.raises(Unprocessable, match="their own"):  # trusting oneself escapes containment
        quotas.trust(ctx, staff_admin, staff_admin.principal_id, {"hours": 1, "reason": "x"},
                     quotas.ACCOUNTS)  # fmt: skip
    with pytest.raises(Forbidden):
        quotas.set_quota(ctx, Actor(pid, "patient"), pid, VALUES, quotas.ACCOUNTS)
    with pytest.raises(Unprocessable, match="per_hour"):
        quotas.set_quota(ctx, admin, pid, {**VALUES, "per_hour": 0}, quotas.ACCOUNTS)
    assert len(identity_events(migrated_database_url)) == before
    assert queries.connector(ctx, admin, cid)["quota"] is None
