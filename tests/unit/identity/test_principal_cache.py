"""PrincipalCache: fresh hits, TTL, refusals not cached, drops by connector, token id, event."""

from __future__ import annotations

import pytest

from services.common.principals import PrincipalCache


class Identity:
    """A fake authenticate(): counts calls, can refuse."""

    def __init__(self) -> None:
        self.calls = 0
        self.refuse = False
        self.during_call = None

    def __call__(self, token: str) -> dict:
        self.calls += 1
        if self.during_call:
            self.during_call()
        if self.refuse:
            raise PermissionError("suspended")
        kind, ident = token.split(":")[:2]
        return {"kind": kind, "id": ident, "token_id": f"t-{token}", "scopes": [], "reach": {}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup():
    identity, clock = Identity(), Clock()
    return identity, clock, PrincipalCache(identity, ttl_s=5, clock=clock)


def test_hits_within_ttl_and_refetches_after(setup):
    identity, clock, cache = setup
    assert cache.get("connector:c1")["id"] == "c1"
    cache.get("connector:c1")
    assert identity.calls == 1
    clock.now += 5.01
    cache.get("connector:c1")
    assert identity.calls == 2


def test_refusals_are_not_cached(setup):
    identity, _, cache = setup
    identity.refuse = True
    for _ in range(2):
        with pytest.raises(PermissionError):
            cache.get("connector:c1")
    assert identity.calls == 2 and len(cache) == 0


def test_drop_connector_forgets_all_its_tokens_only(setup):
    identity, _, cache = setup
    cache.get("connector:c1:a")
    cache.get("connector:c1:b")
    cache.get("connector:c2")
    cache.get("practitioner:c1")
    assert cache.drop_connector("c1") == 2
    assert len(cache) == 2
    cache.get("connector:c1:a")
    assert identity.calls == 5


def test_drop_token_ids_and_identity_events(setup):
    _, _, cache = setup
    cache.get("connector:c1")
    cache.get("connector:c2")
    assert cache.drop_token_ids(["t-connector:c2"]) == 1
    assert cache.on_identity_event("ConnectorAuthorized", {"connector_id": "c1"}) == 0
    assert cache.on_identity_event("ConnectorSuspended", {"connector_id": "c1"}) == 1
    assert len(cache) == 0


def test_a_lookup_racing_a_drop_is_not_stored(setup):
    identity, _, cache = setup
    identity.during_call = lambda: cache.drop_connector("c1")  # suspension lands mid-RPC
    cache.get("connector:c1")
    assert len(cache) == 0


def test_size_is_bounded(setup):
    identity, clock, _ = setup
    cache = PrincipalCache(identity, ttl_s=5, clock=clock, max_entries=4)
    for i in range(10):
        cache.get(f"connector:c{i}")
    assert len(cache) <= 4


@pytest.mark.parametrize("event_type", ["AccountSuspended", "CredentialsReset"])
def test_account_events_drop_the_person_by_principal_id_whatever_its_kind(setup, event_type):
    _, _, cache = setup
    cache.get("patient:p1:a")
    cache.get("patient:p1:b")
    cache.get("staff:s1")
    cache.get("patient:p2")
    payload = {"principal_id": "p1", "principal_kind": "patient", "revoked_token_ids": []}
    assert cache.on_identity_event(event_type, payload) == 2
    payload = {"principal_id": "nobody", "revoked_token_ids": ["t-staff:s1"]}  # by token id too
    assert cache.on_identity_event(event_type, payload) == 1
    assert len(cache) == 1


@pytest.mark.parametrize(
    "event_type", ["QuotaSet", "AccountReinstated", "CredentialsSet", "PrincipalTrusted"]
)
def test_quotas_trust_and_reinstatement_leave_the_cache_alone(setup, event_type):
    _, _, cache = setup
    cache.get("connector:c1")
    assert cache.on_identity_event(event_type, {"principal_id": "c1"}) == 0
    assert len(cache) == 1


def test_booking_subscribes_to_exactly_the_invalidating_events():
    from nameko.containers import ServiceContainer

    from services.booking.service import BookingService
    from services.common.principals import INVALIDATING_EVENTS

    container = ServiceContainer(BookingService, {"AMQP_URI": "memory://"})
    consumer = next(e for e in container.entrypoints if e.method_name == "on_access_revoked")
    assert set(consumer.event_types) == set(INVALIDATING_EVENTS)
    assert {"account.suspended", "credentials.reset"} <= set(consumer.routing_keys())
