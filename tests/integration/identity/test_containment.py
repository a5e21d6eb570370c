"""Policy on audit's findings, on the real database as identity's role: given a finding V3 (or
an older one upcast), then these throttles and suspensions — once, however often delivered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.common.consumed import ConsumedEvent
from services.common.eventstore.store import EventStore
from services.common.inbox import Inbox
from services.identity import commands, containment, quotas, tokens
from services.identity.context import Actor, Ctx
from services.identity.errors import AuthenticationError
from services.identity.settings import Settings
from tests.contract.examples import EXAMPLES, SUSPICIOUS_ACCESS_DETECTED_V2
from tests.support.stack import ADMIN_TOKEN
from tests.support.stored import identity_events

DETECTED = "SuspiciousAccessDetected"
PASSWORD = "synthetic-password-0004"
THROTTLE = Settings(admin_token=ADMIN_TOKEN, throttle_per_hour=40, throttle_burst=5, throttle_s=600)
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ctx(role_pool: ConnectionPool) -> Ctx:
    return Ctx(role_pool, EventStore(role_pool, "identity"), THROTTLE, clock=lambda: NOW)


@pytest.fixture
def inbox(role_pool: ConnectionPool) -> Inbox:
    return Inbox(role_pool, "identity", "identity.on_suspicious_access")


def finding(
    principal: uuid.UUID | None,
    action: str,
    linked: tuple[uuid.UUID, ...] = (),
    kind: str = "unknown",
    version: int = 3,
    **more: Any,
) -> ConsumedEvent:
    """A finding as the consumer hands it over: loaded at its version, upcast to V3."""
    if version == 2:
        payload = {**SUSPICIOUS_ACCESS_DETECTED_V2, "principal_id": str(principal),
                   "connector_id": str(principal), "recommended_action": action}  # fmt: skip
    else:
        payload = {
            **EXAMPLES[DETECTED],
            "principal_kind": kind,
            "principal_id": str(principal) if principal else None,
            "connector_id": str(principal) if kind == "connector" else None,
            "recommended_action": action,
            "linked_principal_ids": [str(p) for p in linked],
            **more,
        }
    payload["detection_id"] = str(uuid.uuid4())
    return ConsumedEvent(
        uuid.uuid4(), DETECTED, version, "audit", "detection-x", 1, 1, "corr-containment", None,
        NOW.isoformat(), REGISTRY.load_payload(DETECTED, version, payload),
    )  # fmt: skip


def patient(ctx: Ctx, admin: Actor) -> tuple[uuid.UUID, str]:
    """A patient who signed in: their id and token."""
    body = {"given_name": "T", "family_name": "P", "birth_date": datetime(1990, 1, 1).date(),
            "gender": "other", "email": None, "password": PASSWORD}  # fmt: skip
    pid = uuid.UUID(commands.register_patient(ctx, admin, body)["patient_id"])
    return pid, tokens.password(ctx, str(pid), PASSWORD, None, "192.0.2.9", "r")["access_token"]


def connector(ctx: Ctx, admin: Actor) -> tuple[uuid.UUID, str]:
    c = commands.register_connector(ctx, admin, {"name": "S", "vendor": "V",
                                                 "contact_email": "o@example.org"})  # fmt: skip
    token = tokens.client_credentials(
        ctx, c["client_id"], c["client_secret"], None, "192.0.2.9", "r"
    )
    return uuid.UUID(c["connector_id"]), token["access_token"]


def events_of(url: str, pid: uuid.UUID, event_type: str | None = None) -> list[dict[str, Any]]:
    """identity's events about one principal (a connector's name it as connector_id)."""
    ids = ("principal_id", "connector_id")
    return [e for e in identity_events(url, event_type) if str(pid) in map(e.get, ids)]


def refusal(ctx: Ctx, token: str) -> str | None:
    try:
        tokens.authenticate(ctx, token)
    except AuthenticationError as error:
        return error.reason
    return None


def test_throttle_bounds_the_principal_and_every_linked_one_once(
    ctx, inbox, admin, migrated_database_url
):
    (p, p_token), (c, _) = patient(ctx, admin), connector(ctx, admin)
    other, _ = patient(ctx, admin)
    event = finding(p, "throttle", linked=(c, other, p))
    assert containment.on_suspicious_access(ctx, inbox, event) is True
    until = (NOW + timedelta(seconds=600)).isoformat()
    detection = str(event.payload["detection_id"])
    for pid, kind in ((p, "patient"), (c, "connector"), (other, "patient")):
        (q,) = events_of(migrated_database_url, pid, "QuotaSet")
        assert (q["principal_kind"], q["per_hour"], q["burst"], q["until"]) == (kind, 40, 5, until)
        assert (q["reason"], q["detection_id"], q["set_by"]) == ("throttle", detection, None)
    assert refusal(ctx, p_token) is None  # throttled, still signed in

    assert containment.on_suspicious_access(ctx, inbox, event) is False  # redelivered
    assert len(events_of(migrated_database_url, p, "QuotaSet")) == 1


def test_suspend_on_a_patient_suspends_the_account_and_throttles_the_linked(
    ctx, inbox, admin, migrated_database_url
):
    (p, p_token), (c, c_token) = patient(ctx, admin), connector(ctx, admin)
    event = finding(p, "suspend", linked=(c,))  # audit names a patient's kind "unknown" today
    assert containment.on_suspicious_access(ctx, inbox, event)
    (suspended,) = events_of(migrated_database_url, p, "AccountSuspended")
    assert (suspended["principal_kind"], suspended["reason"], suspended["suspended_by"]) == (
        "patient", "suspicious_access", None)  # fmt: skip
    assert suspended["detection_id"] == str(event.payload["detection_id"])
    assert len(suspended["revoked_token_ids"]) == 1
    assert refusal(ctx, p_token) == "suspended"
    assert refusal(ctx, c_token) is None  # linked: throttled, never suspended
    assert [q["reason"] for q in events_of(migrated_database_url, c, "QuotaSet")] == ["throttle"]
    assert events_of(migrated_database_url, c, "ConnectorSuspended") == []

    containment.on_suspicious_access(ctx, inbox, event)
    assert len(events_of(migrated_database_url, p, "AccountSuspended")) == 1
    assert len(events_of(migrated_database_url, c, "QuotaSet")) == 1


@pytest.mark.parametrize("version", [3, 2])
def test_suspend_on_a_connector_is_connector_suspended(
    ctx, inbox, admin, migrated_database_url, version
):
    c, token = connector(ctx, admin)
    assert containment.on_suspicious_access(
        ctx, inbox, finding(c, "suspend", kind="connector", version=version)
    )
    (suspended,) = events_of(migrated_database_url, c, "ConnectorSuspended")
    assert suspended["reason"] == "suspicious_access" and suspended["suspended_by"] is None
    assert refusal(ctx, token) == "suspended"


def test_a_trusted_principal_is_left_alone_even_when_linked(
    ctx, inbox, admin, migrated_database_url
):
    (c, token), (p, _) = connector(ctx, admin), patient(ctx, admin)
    quotas.trust(ctx, admin, c, {"hours": 2, "reason": "planned migration"})
    containment.on_suspicious_access(ctx, inbox, finding(c, "suspend", kind="connector"))
    containment.on_suspicious_access(ctx, inbox, finding(p, "throttle", linked=(c,)))
    assert refusal(ctx, token) is None
    assert [e["type"] for e in events_of(migrated_database_url, c)][-1] == "PrincipalTrusted"
    assert len(events_of(migrated_database_url, p, "QuotaSet")) == 1  # the finding's own subject


def test_a_throttle_is_never_looser_than_the_operator_quota(
    ctx, inbox, admin, migrated_database_url
):
    c, _ = connector(ctx, admin)
    quotas.set_quota(ctx, admin, c, {"per_hour": 30, "burst": 10, "until": None})
    containment.on_suspicious_access(ctx, inbox, finding(c, "throttle", kind="connector"))
    throttle = events_of(migrated_database_url, c, "QuotaSet")[-1]
    assert (throttle["reason"], throttle["per_hour"], throttle["burst"]) == ("throttle", 30, 5)


def test_review_an_address_only_the_kill_switch_and_strangers_change_nothing(
    ctx, inbox, admin, migrated_database_url
):
    p, token = patient(ctx, admin)
    before = len(identity_events(migrated_database_url))
    assert not containment.on_suspicious_access(ctx, inbox, finding(p, "review", linked=(p,)))
    no_one = finding(None, "throttle", kind="unknown", network_address="192.0.2.66")
    assert not containment.on_suspicious_access(ctx, inbox, no_one)
    off = Ctx(ctx.pool, ctx.store, Settings(auto_contain=False), clock=ctx.clock)
    switched_off = finding(p, "suspend", kind="patient")
    assert not containment.on_suspicious_access(off, inbox, switched_off)
    stranger = finding(uuid.uuid4(), "suspend", linked=(uuid.uuid4(),))
    assert containment.on_suspicious_access(ctx, inbox, stranger)  # claimed, nothing to do
    assert len(identity_events(migrated_database_url)) == before
    assert refusal(ctx, token) is None
    # Turned back on, the same finding is carried out: the switch claimed nothing.
    assert containment.on_suspicious_access(ctx, inbox, switched_off)
    assert refusal(ctx, token) == "suspended"
