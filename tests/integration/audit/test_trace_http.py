"""The investigators' endpoints over HTTP: identity's tokens decide 401, 403 or 200."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from psycopg_pool import ConnectionPool

from services.audit import access_index
from tests.support.appointment_story import PATIENT, booked, read
from tests.support.ledger import T0, Ledger
from tests.support.people import PASSWORD
from tests.support.poll import eventually
from tests.support.stack import Stack

ADMIN_TOKEN = "test-admin-token-audit-trace-0001"


class Investigation(Stack):
    """Identity and audit in-process on the test's vhost; a booked and read appointment."""

    def __init__(self, database_url: str, amqp_uri: str) -> None:
        audit = {"AUDIT_SIGNING_KEY_ID": "audit-trace-test"}
        super().__init__(
            database_url, amqp_uri, ("identity", "audit"), {"audit": audit}, ADMIN_TOKEN
        )

    def admin_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.identity.admin_post(path, body, expect=(201,))

    def get(self, path: str, token: str | None = None, **params: str) -> requests.Response:
        return self.request("audit", "GET", path, token, params=params)


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
    connector_token = w.identity.client_token(c["client_id"], c["client_secret"])
    investigator = w.identity.person_token(staff["staff_id"])
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
        for token in (connector_token, w.identity.person_token(patient["patient_id"])):
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


def refusals(pool: ConnectionPool) -> list[dict[str, Any]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT data FROM audit.events WHERE event_type = 'AuditAccessRefused'"
            " ORDER BY position"
        ).fetchall()
    return [r[0] for r in rows]


def test_every_refused_token_or_role_at_audit_is_evidence_detection_sees(investigation):
    w = investigation
    c = w.admin_post(
        "/v1/connectors",
        {"name": "Agenda Sync", "vendor": "Synthetic Vendor", "contact_email": "ops@example.org"},
    )
    connector_token = w.identity.client_token(c["client_id"], c["client_secret"])
    guessed = "guessed-token-0001"
    assert (
        w.get("/v1/audit/accesses", connector_token, connector=c["connector_id"]).status_code == 403
    )
    for _ in range(11):  # one more than D6's review threshold (10 in 10 minutes)
        assert w.get("/v1/audit/verify", guessed).status_code == 401
    assert w.get("/v1/audit/verify").status_code == 401  # no token at all
    # A hostile client header must not dodge the record (the contract takes 500 characters).
    long_agent = {"User-Agent": "A" * 5000}
    assert (
        w.request("audit", "GET", "/v1/audit/verify", None, headers=long_agent).status_code == 401
    )
    r = w.get("/v1/audit/accesses", ADMIN_TOKEN, connector=c["connector_id"])
    assert r.status_code == 200  # served: not a refusal
    assert w.get("/v1/audit/accesses", ADMIN_TOKEN, connector="x").status_code == 400

    found = refusals(w.pool)
    assert len(found) == 14  # the 403, eleven 401s with a token, two without; not the 400
    forbidden, *unauthenticated = found
    assert forbidden["denial_code"] == "forbidden" and forbidden["route"] == "access_records"
    assert (forbidden["principal_kind"], forbidden["principal_id"]) == (
        "connector",
        c["connector_id"],
    )
    assert {x["denial_code"] for x in unauthenticated} == {"unauthenticated"}
    assert {x["principal_id"] for x in unauthenticated} == {None}
    prints = [x["token_fingerprint"] for x in unauthenticated]
    assert len(set(prints[:11])) == 1 and prints[11:] == [None, None]
    assert unauthenticated[-1]["user_agent"] == "A" * 500
    assert all(x["request_id"] and x["network_address"] for x in found)
    with w.pool.connection() as conn:  # the token itself is nowhere in audit's log
        assert (
            conn.execute(
                "SELECT count(*) FROM audit.events WHERE data::text LIKE %s", (f"%{guessed}%",)
            ).fetchone()[0]
            == 0
        )

    def finding() -> dict[str, Any] | None:
        with w.pool.connection() as conn:
            row = conn.execute(
                "SELECT data FROM audit.events WHERE event_type = 'SuspiciousAccessDetected'"
                " AND data->>'rule' = 'D6_refused_tokens'"
            ).fetchone()
        return row[0] if row else None

    d6 = eventually(finding, what="D6 on audit's refused tokens")
    assert (
        d6["principal_id"] is None
        and d6["network_address"] == unauthenticated[0]["network_address"]
    )
    assert d6["recommended_action"] == "review"


def test_incidents_take_several_subjects_and_refuse_bad_ones_whole(investigation):
    """Over HTTP: a connector and an address in one incident; an unknown connector is 404 and an
    empty set 400, with nothing written; a vendor resolves once identity's registration is in."""
    w = investigation
    staff = w.admin_post(
        "/v1/staff", {"role": "investigator", "display_name": "Test Inv", "password": PASSWORD}
    )
    investigator = w.identity.person_token(staff["staff_id"])
    c = w.admin_post(
        "/v1/connectors",
        {"name": "Agenda Sync", "vendor": "Vendor Trace", "contact_email": "ops@example.org"},
    )
    connector, appointment = c["connector_id"], uuid.uuid4()
    book = Ledger(w.pool)
    book.put("AppointmentsAccessed", read(connector, connector, [(appointment, PATIENT)]), at=T0)
    window = {"from": "2030-01-01T00:00:00Z", "to": "2031-01-01T00:00:00Z",
              "aware_at": "2031-01-01T00:00:00Z", "title": "t"}  # fmt: skip

    def post(**body: Any) -> requests.Response:
        return w.request("audit", "POST", "/v1/audit/incidents", investigator, json=body)

    def opened() -> int:
        with w.pool.connection() as conn:
            return conn.execute("SELECT count(*) FROM audit.incidents").fetchone()[0]

    unknown = {"kind": "connector", "value": str(uuid.uuid4())}
    r = post(**window, subjects=[{"kind": "connector", "value": connector}, unknown])
    assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    for bad in ([], [{"kind": "address", "value": "nowhere"}], [{"kind": "ship", "value": "x"}]):
        r = post(**window, subjects=bad)
        assert r.status_code == 400 and r.json()["error"] == "invalid", r.text
    assert post(**window, connector_id=connector, subjects=[unknown]).status_code == 400
    assert opened() == 0  # nothing half-applied
    both = [{"kind": "connector", "value": connector}, {"kind": "address", "value": "198.51.100.7"}]
    r = post(**window, subjects=both)
    assert r.status_code == 201, r.text
    affected = r.json()["report"]["affected"]
    assert affected["appointment_count"] == 1 and len(affected["per_subject"]) == 2
    assert post(**window, connector_id=connector).status_code == 201  # the shorthand
    vendor = [{"kind": "vendor", "value": "vendor trace"}]
    eventually(lambda: post(**window, subjects=vendor).status_code == 201, what="registration")
