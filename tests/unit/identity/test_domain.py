"""The connector aggregate: given these events, when this command, then these events."""

from __future__ import annotations

import uuid

import pytest

from contracts.registry import REGISTRY
from services.common.errors import DomainError, NotFound
from services.identity.domain import (
    CONNECTOR_SCOPES,
    Connector,
    grant_to_scopes,
    normalise_scopes,
    scopes_to_grant,
)

ADMIN = uuid.uuid4()
PRACTITIONER = uuid.uuid4()


def registered() -> Connector:
    connector = Connector(uuid.uuid4())
    for event in connector.register("cn-1", "Soft", "Vendor", "ops@example.org", ADMIN):
        connector.apply(*event)
    return connector


def apply_all(connector: Connector, decided) -> None:
    for event_type, payload in decided:
        REGISTRY.validate_for_publish(event_type, payload)  # every decision meets its contract
        connector.apply(event_type, payload)


@pytest.mark.parametrize(
    "scopes",
    [
        ["appointment:read"],
        ["appointment:write"],
        ["appointment:read", "appointment:write"],
        ["appointment:read", "appointment:read-medical"],
        list(CONNECTOR_SCOPES),
    ],
)
def test_scopes_survive_the_v1_grant_shape(scopes):
    assert grant_to_scopes(*scopes_to_grant(scopes)) == scopes


@pytest.mark.parametrize("scopes", [[], ["agenda:read"], ["appointment:read-medical"]])
def test_bad_scope_sets_are_refused(scopes):
    with pytest.raises(DomainError) as error:
        normalise_scopes(scopes)
    assert error.value.code == "invalid_scope"


def test_grant_then_same_grant_decides_nothing_then_revoke():
    connector = registered()
    decided = connector.authorize(PRACTITIONER, ["appointment:read"], PRACTITIONER, uuid.uuid4())
    assert [t for t, _ in decided] == ["ConnectorAuthorized"]
    apply_all(connector, decided)
    assert connector.reach(["appointment:read", "appointment:write"]) == {
        "appointment:read": [str(PRACTITIONER)],
        "appointment:write": [],
    }
    assert connector.authorize(PRACTITIONER, ["appointment:read"], ADMIN, uuid.uuid4()) == []
    revoked = connector.revoke(PRACTITIONER, ADMIN)
    assert [t for t, _ in revoked] == ["ConnectorAuthorizationRevoked"]
    apply_all(connector, revoked)
    assert connector.grants == {}
    assert connector.revoke(PRACTITIONER, ADMIN) == []


def test_suspend_names_revoked_tokens_once_and_reinstate_is_explicit():
    connector = registered()
    token = uuid.uuid4()
    decided = connector.suspend("suspicious_access", None, uuid.uuid4(), [token])
    assert decided[0][1]["revoked_token_ids"] == [str(token)]
    apply_all(connector, decided)
    assert connector.status == "suspended"
    assert connector.suspend("operator_request", ADMIN, None, []) == []
    apply_all(connector, connector.reinstate(ADMIN))
    assert connector.status == "active"
    assert connector.reinstate(ADMIN) == []


def test_rotation_revokes_tokens_and_unknown_connector_is_not_found():
    connector = registered()
    token = uuid.uuid4()
    decided = connector.rotate_secret(ADMIN, [token])
    apply_all(connector, decided)
    assert decided[0][1]["revoked_token_ids"] == [str(token)]
    with pytest.raises(NotFound):
        Connector(uuid.uuid4()).suspend("operator_request", ADMIN, None, [])


def test_no_identity_contract_has_a_field_for_a_secret():
    names = {
        name
        for c in REGISTRY.all_contracts()
        if c.producer == "identity"
        for name in c.schema().fields
    }
    risky = {n for n in names if any(w in n for w in ("secret", "password", "hash", "token"))}
    assert risky <= {"token_id", "revoked_token_ids"}
