"""Containment at identity's HTTP edge, on the real broker and database: people's accounts
suspended, reinstated and reset by an admin; connector quotas (400 shape, 404, 422 values) and
trust; a throttle from audit's finding; and none of it leaks a secret."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import requests

from services.common.logging import configure_logging
from tests.integration.identity.world import World
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN
from tests.support.stored import identity_events

SECRETS: list[str] = [ADMIN_TOKEN]
PEOPLE = {
    "practitioner": ("/v1/practitioners", {"given_name": "Dr", "family_name": "Suspend",
                                           "specialty": "cardiology"}),
    "patient": ("/v1/patients", {"given_name": "T", "family_name": "Patient",
                                 "birth_date": "1990-01-01", "gender": "female"}),
    "staff": ("/v1/staff", {"role": "investigator", "display_name": "Staff"}),
}  # fmt: skip


@pytest.fixture(scope="module")
def logs() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("test", level="DEBUG", stream=stream)
    return stream


@pytest.fixture(scope="module")
def world(migrated_database_url: str, broker: str, logs: io.StringIO) -> Iterator[World]:
    w = World(migrated_database_url, broker, logs, IDENTITY_THROTTLE_PER_HOUR=60,
              IDENTITY_THROTTLE_BURST=6).start()  # fmt: skip
    yield w
    w.close()


def secret(value: str) -> str:
    SECRETS.append(value)
    return value


def person(world: World, kind: str, **more: str) -> tuple[str, str]:
    """A newly registered person's id and password."""
    path, body = PEOPLE[kind]
    password = secret(f"pw-{uuid.uuid4().hex}")
    email = f"{kind}-{uuid.uuid4().hex[:8]}@example.org"
    r = world.post(path, {**body, "password": password, "email": email, **more})
    assert r.status_code == 201, r.text
    return r.json()[f"{kind}_id"], password


def sign_in(world: World, pid: str, password: str) -> requests.Response:
    form = {"grant_type": "password", "username": pid, "password": password}
    r = requests.post(f"{world.base}/oauth/token", data=form, timeout=30)
    if r.status_code == 200:
        secret(r.json()["access_token"])
    return r


def connector(world: World) -> str:
    r = world.post("/v1/connectors", {"name": "S", "vendor": "V", "contact_email": "o@example.org"})
    assert r.status_code == 201, r.text
    secret(r.json()["client_secret"])
    return r.json()["connector_id"]


@pytest.mark.parametrize("kind", sorted(PEOPLE))
def test_an_admin_suspends_reinstates_and_resets_any_person(world, kind):
    pid, password = person(world, kind)
    token = sign_in(world, pid, password).json()["access_token"]
    assert world.get(f"/v1/{PEOPLE[kind][0].split('/')[2]}/{pid}", token=token).status_code == 200

    r = world.post(f"/v1/accounts/{pid}/suspend", {"reason": "operator_request"})
    assert r.status_code == 200, r.text
    assert r.json() == {"principal_id": pid, "principal_kind": kind, "status": "suspended",
                        "changed": True}  # fmt: skip
    assert world.get(f"/v1/{PEOPLE[kind][0].split('/')[2]}/{pid}", token=token).status_code == 401
    refused = sign_in(world, pid, password)
    assert (refused.status_code, refused.json()) == (
        400, {"error": "invalid_grant", "error_description": "account is suspended"})  # fmt: skip
    r = world.post(f"/v1/accounts/{pid}/reinstate")
    assert (r.status_code, r.json()["status"], r.json()["changed"]) == (200, "active", True)

    r = world.post(f"/v1/accounts/{pid}/reset-credentials")
    assert (r.status_code, r.json()["password_set"]) == (200, False)
    assert sign_in(world, pid, password).json()["error"] == "invalid_grant"
    new = secret(f"pw-{uuid.uuid4().hex}")
    r = world.put(f"/v1/accounts/{pid}/password", {"password": new})
    assert (r.status_code, r.json()["password_set"]) == (200, True), r.text
    assert sign_in(world, pid, new).status_code == 200


def test_account_requests_are_refused_clearly(world):
    pid, password = person(world, "patient")
    own = sign_in(world, pid, password).json()["access_token"]
    assert world.post(f"/v1/accounts/{pid}/suspend", token=own).status_code == 403
    assert (
        world.put(f"/v1/accounts/{pid}/password", {"password": "x" * 12}, token=own).status_code
        == 403
    )
    assert world.post(f"/v1/accounts/{uuid.uuid4()}/suspend").status_code == 404
    assert world.post(f"/v1/accounts/{connector(world)}/reset-credentials").status_code == 404
    assert world.post(f"/v1/accounts/{pid}/suspend", {"reason": "bored"}).status_code == 400
    assert world.put(f"/v1/accounts/{pid}/password", {"password": "short"}).status_code == 400
    admin_id, admin_password = person(world, "staff", role="admin")
    admin = sign_in(world, admin_id, admin_password).json()["access_token"]
    r = world.post(f"/v1/accounts/{admin_id}/suspend", token=admin)
    assert r.status_code == 422 and "own account" in r.json()["detail"]
    assert world.post(f"/v1/accounts/{pid}/suspend", token=admin).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"per_hour": 0, "burst": 1}, 422, "per_hour must be between 1 and 10000000"),
        ({"per_hour": -20, "burst": -1}, 422, "burst must be between 1 and per_hour"),
        ({"per_hour": 10**9, "burst": 10}, 422, "per_hour"),
        ({"per_hour": 100, "burst": 200}, 422, "burst"),
        ({"per_hour": 100, "burst": 10, "until": "2001-01-01T00:00:00Z"}, 422, "in the future"),
        ({"per_hour": "100", "burst": 10}, 400, "per_hour"),
        ({"per_hour": 1.5, "burst": 10}, 400, "per_hour"),
        ({"per_hour": True, "burst": 10}, 400, "per_hour"),
        ({"per_hour": 100}, 400, "burst"),
        ({"per_hour": 100, "burst": 10, "reason": "throttle"}, 400, "reason"),
        ({"per_hour": 100, "burst": 10, "until": "tomorrow"}, 400, "until"),
    ],
)
def test_a_quota_of_wrong_values_is_422_of_wrong_shape_400_and_changes_nothing(
    world, body, status, says, migrated_database_url
):
    cid = connector(world)
    r = world.put(f"/v1/connectors/{cid}/quota", body)
    assert r.status_code == status, r.text
    answer = r.json()
    assert says in answer["detail"] + json.dumps(answer.get("fields", {}))
    assert world.get(f"/v1/connectors/{cid}").json()["quota"] is None
    assert not [
        e for e in identity_events(migrated_database_url, "QuotaSet") if e["principal_id"] == cid
    ]


def test_a_quota_for_no_connector_is_404(world):
    body = {"per_hour": 100, "burst": 10}
    assert world.put(f"/v1/connectors/{uuid.uuid4()}/quota", body).status_code == 404
    assert world.put("/v1/connectors/not-a-uuid/quota", body).status_code == 404
    pid, _ = person(world, "patient")
    assert world.put(f"/v1/connectors/{pid}/quota", body).status_code == 404


def test_a_quota_and_trust_are_set_and_shown(world):
    cid = connector(world)
    r = world.put(f"/v1/connectors/{cid}/quota", {"per_hour": 2400, "burst": 120})
    assert r.status_code == 200, r.text
    assert r.json() == {"connector_id": cid, "per_hour": 2400, "burst": 120, "until": None,
                        "reason": "operator"}  # fmt: skip
    r = world.post(f"/v1/connectors/{cid}/trust", {"hours": 12, "reason": "vendor migration"})
    assert r.status_code == 200, r.text
    view = world.get(f"/v1/connectors/{cid}").json()
    assert (view["quota"]["per_hour"], view["quota"]["burst"]) == (2400, 120)
    assert view["trusted_until"] == r.json()["trusted_until"] and view["throttle"] is None
    for body in ({"hours": 0, "reason": "x"}, {"hours": 169, "reason": "x"}):
        assert world.post(f"/v1/connectors/{cid}/trust", body).status_code == 422
    assert world.post(f"/v1/connectors/{cid}/trust", {"hours": 2}).status_code == 400


def test_a_person_gets_a_quota_and_trust_on_the_accounts_path(world):
    pid, _ = person(world, "staff")
    r = world.put(f"/v1/accounts/{pid}/quota", {"per_hour": 900, "burst": 90})
    assert r.status_code == 200, r.text
    assert r.json() == {"principal_id": pid, "principal_kind": "staff", "per_hour": 900,
                        "burst": 90, "until": None, "reason": "operator"}  # fmt: skip
    r = world.post(f"/v1/accounts/{pid}/trust", {"hours": 4, "reason": "planned bulk export"})
    assert r.status_code == 200 and r.json()["principal_kind"] == "staff", r.text
    assert world.put(f"/v1/accounts/{pid}/quota", {"per_hour": 0, "burst": 1}).status_code == 422
    cid = connector(world)
    assert world.post(f"/v1/accounts/{cid}/trust", {"hours": 1, "reason": "x"}).status_code == 404


def test_a_throttle_finding_bounds_the_principal_and_the_linked_one(world, migrated_database_url):
    pid, _ = person(world, "patient")
    cid = connector(world)
    detection = world.detect(pid, "throttle", kind="patient", linked=(cid,), rule="D4_probing")

    def throttles():
        found = [e for e in identity_events(migrated_database_url, "QuotaSet")
                 if e["detection_id"] == detection]  # fmt: skip
        return found if len(found) == 2 else None

    found = eventually(throttles, what="two throttles")
    assert {(e["principal_id"], e["per_hour"], e["burst"]) for e in found} == {
        (pid, 60, 6), (cid, 60, 6)}  # fmt: skip
    assert world.get(f"/v1/connectors/{cid}").json()["throttle"]["per_hour"] == 60
    r = world.put(f"/v1/connectors/{cid}/quota", {"per_hour": 900, "burst": 90})
    assert r.status_code == 200  # on-call's lever: the operator's word is the latest QuotaSet


def test_zz_no_secret_in_logs_events_or_bus(world, logs, migrated_database_url):
    with psycopg.connect(migrated_database_url) as conn:
        stored = [json.dumps(r[0]) for r in conn.execute("SELECT data FROM identity.events")]
    published = [body.decode() for _, body in world.bus_messages(at_least=len(stored))]
    assert len(published) >= len(stored) > 10
    text = "\n".join([logs.getvalue(), *stored, *published])
    assert "account.credentials_reset" in logs.getvalue()
    assert [s[:6] for s in SECRETS if s in text] == []
