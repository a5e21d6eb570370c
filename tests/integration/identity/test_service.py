"""The identity service on the real broker and database: OAuth2 flow, RPC, suspension, secrecy."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import psycopg
import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.logging import configure_logging
from tests.integration.identity.world import World
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN
from tests.support.stored import identity_events

SECRETS: list[str] = [ADMIN_TOKEN]  # every secret, password and token the tests handle


@pytest.fixture(scope="module")
def logs() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("test", level="DEBUG", stream=stream)
    return stream


@pytest.fixture(scope="module")
def world(migrated_database_url: str, broker: str, logs: io.StringIO) -> Iterator[World]:
    w = World(migrated_database_url, broker, logs).start()
    yield w
    w.close()


@pytest.fixture(scope="module")
def rpc(world: World) -> Iterator:
    with ClusterRpcProxy({"AMQP_URI": world.amqp_uri}) as proxy:
        yield proxy.identity


def connector(world: World) -> dict:
    r = world.post(
        "/v1/connectors", {"name": "Soft", "vendor": "Vendor", "contact_email": "ops@example.org"}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    SECRETS.append(body["client_secret"])
    return body


def practitioner(world: World, password: str | None = None) -> dict:
    body = {"given_name": "Test", "family_name": "Practitioner", "specialty": "cardiology"}
    if password:
        body["password"] = password
        SECRETS.append(password)
    r = world.post("/v1/practitioners", body)
    assert r.status_code == 201, r.text
    return r.json()


def access_token(world: World, c: dict, **extra: str) -> str:
    r = world.token(c["client_id"], c["client_secret"], **extra)
    assert r.status_code == 200, r.text
    SECRETS.append(r.json()["access_token"])
    return r.json()["access_token"]


def remote_reason(call) -> str:
    with pytest.raises(RemoteError) as error:
        call()
    assert error.value.exc_type == "AuthenticationError"
    return str(error.value.value)


def test_oauth2_flow_reach_follows_grants(world, rpc):
    c, p = connector(world), practitioner(world, password="practitioner-password-1")
    refused = world.token(c["client_id"], c["client_secret"], scope="appointment:read")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"  # no grant

    # The practitioner signs in with their password and grants on their own agenda.
    form = {
        "grant_type": "password",
        "username": p["practitioner_id"],
        "password": "practitioner-password-1",
    }
    r = requests.post(f"{world.base}/oauth/token", data=form, timeout=30)
    assert r.status_code == 200, r.text
    own = r.json()["access_token"]
    SECRETS.append(own)
    grant = {"connector_id": c["connector_id"], "scopes": ["appointment:read"]}
    r = world.post(f"/v1/practitioners/{p['practitioner_id']}/grants", grant, token=own)
    assert r.status_code == 201, r.text
    token = access_token(world, c, scope="appointment:read")
    principal = rpc.authenticate(token)
    assert principal["kind"] == "connector" and principal["id"] == c["connector_id"]
    assert principal["reach"] == {"appointment:read": [p["practitioner_id"]]}

    other = practitioner(world)
    r = world.post(f"/v1/practitioners/{other['practitioner_id']}/grants", grant, token=own)
    assert r.status_code == 403

    r = requests.delete(
        f"{world.base}/v1/practitioners/{p['practitioner_id']}/grants/{c['connector_id']}",
        headers={"Authorization": f"Bearer {own}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert rpc.authenticate(token)["reach"]["appointment:read"] == []


def test_smart_system_scopes_are_accepted_and_answered_in_their_own_names(world, rpc):
    c, p = connector(world), practitioner(world)
    grant = {"connector_id": c["connector_id"], "scopes": ["appointment:read"]}
    assert world.post(f"/v1/practitioners/{p['practitioner_id']}/grants", grant).status_code == 201
    r = world.token(c["client_id"], c["client_secret"], scope="system/Appointment.rs")
    assert r.status_code == 200, r.text
    SECRETS.append(r.json()["access_token"])
    assert r.json()["scope"] == "system/Appointment.rs"
    principal = rpc.authenticate(r.json()["access_token"])
    assert principal["reach"] == {"appointment:read": [p["practitioner_id"]]}
    for scope, says in (("system/Appointment.cu", "scope must be among"),  # no write grant
                        ("system/Appointment.r", "ask system/Appointment.rs")):  # fmt: skip
        refused = world.token(c["client_id"], c["client_secret"], scope=scope)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
        assert says in refused.json()["error_description"]
    # The client first: a wrong secret is invalid_client whatever the scope asked.
    wrong = world.token(c["client_id"], "not-the-secret-0000", scope="system/Appointment.r")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_wrong_secret_is_401_invalid_client_and_an_event(world, migrated_database_url):
    c = connector(world)
    r = world.token(c["client_id"], "not-the-secret-0000")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    failed = identity_events(migrated_database_url, "AuthenticationFailed")
    mine = [e for e in failed if e["connector_id"] == c["connector_id"]]
    assert mine and mine[-1]["reason"] == "invalid_secret"
    assert mine[-1]["network_address"] == "127.0.0.1"


def test_rotation_invalidates_the_old_secret(world, rpc):
    c = connector(world)
    token = access_token(world, c)
    r = world.post(f"/v1/connectors/{c['connector_id']}/rotate-secret")
    assert r.status_code == 200, r.text
    SECRETS.append(r.json()["client_secret"])
    assert world.token(c["client_id"], c["client_secret"]).status_code == 401
    assert remote_reason(lambda: rpc.authenticate(token)).startswith("revoked")
    assert access_token(world, {**c, "client_secret": r.json()["client_secret"]})


def test_suspension_then_explicit_reinstatement(world, rpc):
    c = connector(world)
    token = access_token(world, c)
    r = world.post(f"/v1/connectors/{c['connector_id']}/suspend", {"reason": "operator_request"})
    assert r.status_code == 200 and r.json()["changed"], r.text
    assert remote_reason(lambda: rpc.authenticate(token)).startswith("suspended")
    assert world.token(c["client_id"], c["client_secret"]).json()["error"] == "invalid_client"
    r = world.post(f"/v1/connectors/{c['connector_id']}/reinstate")
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert remote_reason(lambda: rpc.authenticate(token)).startswith("revoked")
    assert rpc.authenticate(access_token(world, c))["kind"] == "connector"


def test_a_finding_is_carried_out_as_audit_recommends(world, rpc, logs, migrated_database_url):
    flagged, reviewed = connector(world), connector(world)
    t1, t2 = access_token(world, flagged), access_token(world, reviewed)
    detection = world.detect(flagged["connector_id"], "suspend")
    world.detect(reviewed["connector_id"], "review", rule="D2_unusual_patients")
    eventually(
        lambda: any(
            e["connector_id"] == flagged["connector_id"]
            for e in identity_events(migrated_database_url, "ConnectorSuspended")
        ),
        what="ConnectorSuspended",
    )
    assert remote_reason(lambda: rpc.authenticate(t1)).startswith("suspended")
    suspended = [
        e
        for e in identity_events(migrated_database_url, "ConnectorSuspended")
        if e["connector_id"] == flagged["connector_id"]
    ]
    assert len(suspended) == 1 and suspended[0]["reason"] == "suspicious_access"
    assert rpc.authenticate(t2)["kind"] == "connector"
    alerts = [
        json.loads(line)
        for line in logs.getvalue().splitlines()
        if "principal.suspended_by_detection" in line
    ]
    alert = next(a for a in alerts if a["detection_id"] == detection)
    assert alert["level"] == "error" and alert["rule"] == "D4_probing"
    assert (alert["principal_id"], alert["principal_kind"]) == (
        flagged["connector_id"],
        "connector",
    )
    assert alert["evidence_summary"] == "D4_probing: synthetic detection for the identity tests"
    assert alert["incident_hint"].startswith(
        f"carnet audit investigate --connector {flagged['connector_id']} --from "
    )
    assert not any(a["principal_id"] == reviewed["connector_id"] for a in alerts)
    # The review finding is a later event than the suspension waited for above: wait for it too.
    eventually(lambda: "suspicious_access.review" in logs.getvalue(), what="the review line")


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": "name=x", "headers": {"Content-Type": "text/plain"}}, 415),
        ({"json": {"name": "x"}}, 400),
        ({"json": ["a list"]}, 400),
        ({"json": {"name": "x" * 70000, "vendor": "v", "contact_email": "a@example.org"}}, 413),
        ({"json": {"name": "", "vendor": "v", "contact_email": "nope", "extra": 1}}, 400),
    ],
)
def test_bad_requests_get_a_clear_4xx(world, kwargs, status):
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
    r = requests.post(f"{world.base}/v1/connectors", headers=headers, timeout=30, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] and body["detail"]


def test_auth_and_path_errors_are_json(world):
    assert (
        world.post("/v1/staff", {"role": "admin", "display_name": "A"}, token=None).status_code
        == 401
    )
    r = world.post("/v1/staff", {"role": "admin", "display_name": "A"}, token="guess")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert world.get("/v1/connectors/not-a-uuid").status_code == 404
    r = requests.post(f"{world.base}/oauth/token", data={"grant_type": "magic"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = requests.post(f"{world.base}/oauth/token", json={"grant_type": "password"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_openapi_document_is_served(world):
    doc = world.get("/openapi.json", token=None).json()
    assert doc["openapi"].startswith("3.") and "/oauth/token" in doc["paths"]


def sign_in(world: World, username: str, password: str) -> requests.Response:
    form = {"grant_type": "password", "username": username, "password": password}
    return requests.post(f"{world.base}/oauth/token", data=form, timeout=30)


def test_people_register_sign_in_and_see_only_themselves(world, rpc):
    patient = {
        "given_name": "Test",
        "family_name": "Patient",
        "birth_date": "1990-01-01",
        "gender": "unknown",
        "email": "test.patient.svc@example.org",
        "preferred_language": "en",
        "password": "patient-password-1",
    }
    SECRETS.append(patient["password"])
    r = world.post("/v1/patients", patient)
    assert r.status_code == 201, r.text
    pid = r.json()["patient_id"]
    assert "password" not in r.json()
    assert world.post("/v1/patients", patient).status_code == 409  # same e-mail

    r = sign_in(world, "Test.Patient.Svc@example.org", "patient-password-1")
    assert r.status_code == 200, r.text
    own = r.json()["access_token"]
    SECRETS.append(own)
    assert rpc.authenticate(own)["kind"] == "patient"
    assert world.get(f"/v1/patients/{pid}", token=own).json()["preferred_language"] == "en"
    other = world.post("/v1/patients", {**patient, "email": None, "password": None}).json()
    assert world.get(f"/v1/patients/{other['patient_id']}", token=own).status_code == 403
    assert world.post("/v1/connectors", {"name": "x"}, token=own).status_code == 403

    staff = {
        "role": "investigator",
        "display_name": "Test Investigator",
        "email": "inv@example.org",
        "password": "investigator-password",
    }
    SECRETS.append(staff["password"])
    r = world.post("/v1/staff", staff)
    assert r.status_code == 201, r.text
    r = sign_in(world, "inv@example.org", "investigator-password")
    SECRETS.append(r.json()["access_token"])
    principal = rpc.authenticate(r.json()["access_token"])
    assert (principal["kind"], principal["role"], principal["scopes"]) == (
        "staff",
        "investigator",
        ["audit:investigate"],
    )
    assert sign_in(world, "inv@example.org", "wrong-password").json()["error"] == "invalid_grant"
    assert world.get(f"/v1/staff/{principal['id']}").json()["role"] == "investigator"


def test_connector_view_shows_grants_and_never_the_secret(world):
    c, p = connector(world), practitioner(world)
    grant = {
        "connector_id": c["connector_id"],
        "scopes": ["appointment:read", "appointment:read-medical"],
    }
    assert world.post(f"/v1/practitioners/{p['practitioner_id']}/grants", grant).status_code == 201
    bad = {"connector_id": c["connector_id"], "scopes": ["appointment:read-medical"]}
    r = world.post(f"/v1/practitioners/{p['practitioner_id']}/grants", bad)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    view = world.get(f"/v1/connectors/{c['connector_id']}").json()
    assert view["grants"] == {
        p["practitioner_id"]: ["appointment:read", "appointment:read-medical"]
    }
    assert "client_secret" not in view and view["status"] == "active"
    grants = world.get(f"/v1/practitioners/{p['practitioner_id']}/grants").json()["grants"]
    assert grants == {c["connector_id"]: ["appointment:read", "appointment:read-medical"]}


def test_zz_no_secret_in_logs_events_or_bus(world, logs, migrated_database_url):
    with psycopg.connect(migrated_database_url) as conn:
        stored = [json.dumps(r[0]) for r in conn.execute("SELECT data FROM identity.events")]
        hashes = [r[0] for r in conn.execute("SELECT secret_hash FROM identity.credentials")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    published = [body.decode() for _, body in world.bus_messages(at_least=len(stored))]
    assert len(published) >= len(stored) > 10
    text = "\n".join([logs.getvalue(), *stored, *published])
    assert "authentication.failed" in logs.getvalue()
    leaked = [s[:6] for s in SECRETS if s in text]
    leaked += [h[:12] for h in hashes if h in text or h.split("$")[-1] in text]
    assert leaked == []
