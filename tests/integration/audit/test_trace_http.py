"""The investigators' endpoints over HTTP: identity's tokens decide 401, 403 or 200."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from nameko.runners import ServiceRunner
from psycopg_pool import ConnectionPool

from services.audit import access_index
from services.audit.service import AuditService
from services.audit.signing import new_seed
from services.identity.service import IdentityService
from tests.support.appointment_story import PATIENT, booked, read
from tests.support.ledger import T0, Ledger
from tests.support.poll import eventually
from tests.support.ports import free_port

ADMIN_TOKEN = "test-admin-token-audit-trace-0001"
PASSWORD = "synthetic-password-0001"


class Investigation:
    """Identity and audit in-process on the test's vhost; a booked and read appointment."""

    def __init__(self, database_url: str, amqp_uri: str) -> None:
        self.identity_port, self.audit_port = free_port(), free_port()
        common = {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url}
        self.identity_runner = ServiceRunner(
            {
                **common,
                "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.identity_port}",
                "CARNET_ADMIN_TOKEN": ADMIN_TOKEN,
            }
        )
        self.identity_runner.add_service(IdentityService)
        self.audit_runner = ServiceRunner(
            {
                **common,
                "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.audit_port}",
                "AUDIT_SIGNING_KEY": new_seed(),
                "AUDIT_SIGNING_KEY_ID": "audit-trace-test",
                "LEDGER_CHECKPOINT_SECONDS": 60,
            }
        )
        self.audit_runner.add_service(AuditService)
        self.pool = ConnectionPool(database_url, min_size=1, max_size=4, open=True)

    def start(self) -> Investigation:
        self.audit_runner.start()
        self.identity_runner.start()
        return self

    def close(self) -> None:
        self.identity_runner.stop()
        self.audit_runner.stop()
        self.pool.close()

    def admin_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(
            f"http://127.0.0.1:{self.identity_port}{path}",
            json=body,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        return r.json()

    def token(self, form: dict[str, str]) -> str:
        r = requests.post(
            f"http://127.0.0.1:{self.identity_port}/oauth/token", data=form, timeout=30
        )
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def person_token(self, principal_id: str) -> str:
        form = {"grant_type": "password", "username": principal_id, "password": PASSWORD}
        return self.token(form)

    def get(self, path: str, token: str | None = None, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"http://127.0.0.1:{self.audit_port}{path}"
        return requests.get(url, headers=headers, params=params, timeout=30)


def indexed(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        return access_index.position(conn)


@pytest.fixture
def investigation(fresh_migrated_database_url: str, fresh_broker: str) -> Iterator[Investigation]:
    world = Investigation(fresh_migrated_database_url, fresh_broker).start()
    yield world
    world.close()


def test_only_staff_investigators_and_admins_may_trace(investigation):
    w = investigation
    staff = w.admin_post(
        "/v1/staff",
        {"role": "investigator", "display_name": "Test Investigator", "password": PASSWORD},
    )
    patient = w.admin_post(
        "/v1/patients",
        {
            "given_name": "Test",
            "family_name": "Patient",
            "birth_date": "1990-01-01",
            "gender": "female",
            "email": "pt-trace@example.org",
            "password": PASSWORD,
        },
    )
    c = w.admin_post(
        "/v1/connectors",
        {"name": "Agenda Sync", "vendor": "Synthetic Vendor", "contact_email": "ops@example.org"},
    )
    connector_token = w.token(
        {
            "grant_type": "client_credentials",
            "client_id": c["client_id"],
            "client_secret": c["client_secret"],
        }
    )
    investigator = w.person_token(staff["staff_id"])
    appointment = uuid.uuid4()
    book = Ledger(w.pool)
    book.put(
        "AppointmentBooked",
        booked(appointment, PATIENT),
        stream=f"appointment-{appointment}",
        at=T0,
    )
    connector = c["connector_id"]
    seq = book.put(
        "AppointmentsAccessed", read(connector, connector, [(appointment, PATIENT)]), at=T0
    )
    eventually(lambda: indexed(w.pool) >= seq, what="the timer's catch-up")  # no query ran yet

    history = f"/v1/audit/appointments/{appointment}/history"
    for path, params in (
        (history, {}),
        (f"/v1/audit/appointments/{appointment}/state", {"as_of": "2031-01-01T00:00:00Z"}),
        ("/v1/audit/accesses", {"connector": connector}),
    ):
        assert w.get(path, None, **params).status_code == 401
        refused = w.get(path, "not-a-token", **params)
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        for token in (connector_token, w.person_token(patient["patient_id"])):
            forbidden = w.get(path, token, **params)
            assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
        for token in (investigator, ADMIN_TOKEN):
            assert w.get(path, token, **params).status_code == 200, path

    items = w.get(history, investigator).json()["items"]
    assert [i["kind"] for i in items] == ["change", "access"]
    assert items[0]["payload"]["reason"] == "encrypted"
    state = w.get(
        f"/v1/audit/appointments/{appointment}/state", investigator, as_of="2031-01-01T00:00:00Z"
    )
    assert state.json()["state"]["status"] == "booked"
    found = w.get("/v1/audit/accesses", investigator, patient=PATIENT).json()
    assert found["count"] == 1 and found["accesses"][0]["appointment_ids"] == [str(appointment)]
    assert found["truncated"] is False

    bad = {
        "/v1/audit/appointments/not-a-uuid/history": {},
        f"/v1/audit/appointments/{appointment}/state": {"as_of": "2031-01-01T00:00:00"},
        "/v1/audit/accesses": {"connector": connector, "patient": PATIENT},
    }
    for path, params in bad.items():
        r = w.get(path, investigator, **params)
        assert r.status_code == 400 and set(r.json()) == {"error", "detail"}, (path, r.text)
    early = w.get(
        f"/v1/audit/appointments/{appointment}/state", investigator, as_of="2020-01-01T00:00:00Z"
    )
    assert early.status_code == 404
    assert (
        w.get("/v1/audit/accesses", investigator, principal=connector, **{"from": "x"}).status_code
        == 400
    )
