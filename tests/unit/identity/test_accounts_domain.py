"""A person's account, a quota and trust: given these events, when this command, then these."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.identity_accounts import MAX_PER_HOUR
from contracts.registry import REGISTRY
from services.common.errors import NotFound, Unprocessable
from services.identity.domain import Account
from services.identity.quotas import decide_quota, decide_trust
from services.identity.readmodels import Principal

ADMIN = uuid.uuid4()
NOW = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
REGISTERED = {
    "practitioner": "PractitionerRegistered",
    "patient": "PatientRegistered",
    "staff": "StaffRegistered",
}


def account(kind: str) -> Account:
    return Account.from_events(uuid.uuid4(), [(REGISTERED[kind], {})])


def apply_all(target: Account, decided) -> None:
    for event_type, payload in decided:
        REGISTRY.validate_for_publish(event_type, payload)  # every decision meets its contract
        target.apply(event_type, payload)


@pytest.mark.parametrize("kind", sorted(REGISTERED))
def test_suspend_once_reinstate_explicitly_for_every_kind_of_person(kind):
    person, token = account(kind), uuid.uuid4()
    decided = person.suspend("operator_request", ADMIN, None, [token])
    assert [t for t, _ in decided] == ["AccountSuspended"]
    assert decided[0][1]["principal_kind"] == kind
    assert decided[0][1]["revoked_token_ids"] == [str(token)]
    apply_all(person, decided)
    assert person.status == "suspended"
    assert person.suspend("suspicious_access", None, uuid.uuid4(), []) == []
    apply_all(person, person.reinstate(ADMIN))
    assert person.status == "active" and person.reinstate(ADMIN) == []


def test_a_reset_always_happens_and_a_password_set_is_recorded_without_it():
    person = account("patient")
    first = person.reset_credentials(ADMIN, None, [uuid.uuid4()])
    apply_all(person, first)
    assert [t for t, _ in person.reset_credentials(None, uuid.uuid4(), [])] == ["CredentialsReset"]
    decided = person.set_password(ADMIN)
    said = {"principal_id": str(person.principal_id), "principal_kind": "patient"}
    assert decided == [("CredentialsSet", {**said, "set_by": str(ADMIN)})]
    apply_all(person, decided)
    assert person.version == 3 and person.status == "active"


def test_nobody_registered_is_no_account():
    with pytest.raises(NotFound):
        Account(uuid.uuid4()).suspend("operator_request", ADMIN, None, [])
    with pytest.raises(NotFound):
        Account(uuid.uuid4()).reset_credentials(ADMIN, None, [])


def connector() -> Principal:
    return Principal(uuid.uuid4(), "connector", None, "cn-1", None, "active", {})


def test_a_quota_is_decided_within_its_contract():
    until = NOW + timedelta(days=1)
    event_type, payload = decide_quota(connector(), 1000, 100, until, NOW, "operator", by=ADMIN)
    REGISTRY.validate_for_publish(event_type, payload)
    assert (payload["per_hour"], payload["burst"], payload["until"]) == (
        1000,
        100,
        until.isoformat(),
    )
    assert (payload["reason"], payload["set_by"], payload["detection_id"]) == (
        "operator", str(ADMIN), None)  # fmt: skip


@pytest.mark.parametrize(
    ("per_hour", "burst", "until", "says"),
    [
        (0, 1, None, "per_hour must be between 1 and"),
        (-5, 1, None, "per_hour"),
        (MAX_PER_HOUR + 1, 10, None, "per_hour"),
        (100, 0, None, "burst must be between 1 and per_hour"),
        (100, 101, None, "burst"),
        (100, 10, NOW, "until must be in the future"),
        (100, 10, NOW - timedelta(days=1), "until"),
    ],
)
def test_no_quota_of_absurd_values(per_hour, burst, until, says):
    with pytest.raises(Unprocessable) as refused:
        decide_quota(connector(), per_hour, burst, until, NOW, "operator", by=ADMIN)
    assert says in refused.value.detail


def test_every_wrong_value_is_named_in_one_answer():
    with pytest.raises(Unprocessable) as refused:
        decide_quota(connector(), 0, 0, NOW, NOW, "operator", by=ADMIN)
    assert refused.value.detail.count(";") == 2


@pytest.mark.parametrize(("hours", "ok"), [(0, False), (1, True), (168, True), (169, False)])
def test_trust_lasts_one_hour_to_a_week(hours, ok):
    if not ok:
        with pytest.raises(Unprocessable, match="between 1 and 168"):
            decide_trust(connector(), hours, "migration", NOW, ADMIN)
        return
    event_type, payload = decide_trust(connector(), hours, "migration", NOW, ADMIN)
    REGISTRY.validate_for_publish(event_type, payload)
    assert payload["until"] == (NOW + timedelta(hours=hours)).isoformat()
