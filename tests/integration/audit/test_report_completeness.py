"""A report is never served as final while the ledger lacks an event of its window (#20, 5).

Booking does not run here, so an access record appended to booking's store stays out of the
ledger until the test ledgers it, as audit's consumer would: the lag of a busy audit, held
still. Audit runs as its own role, which may count another store's events but not read them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from psycopg_pool import ConnectionPool

from contracts.registry import REGISTRY
from services.audit import ledger, sequencer
from services.cli.main import cli
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from tests.support.appointment_story import PATIENT, read
from tests.support.people import PASSWORD
from tests.support.poll import eventually
from tests.support.stack import Stack

ADMIN_TOKEN = "test-admin-token-audit-complete-01"


@pytest.fixture
def stack(fresh_migrated_database_url: str, fresh_broker: str) -> Iterator[Stack]:
    world = Stack(
        fresh_migrated_database_url,
        fresh_broker,
        ("identity", "audit"),
        {"audit": {"AUDIT_REPORT_WAIT_SECONDS": "20"}},
        ADMIN_TOKEN,
    ).start()
    yield world
    world.close()


def _unledgered_read(w: Any, connector: str) -> dict[str, Any]:
    """An access record in booking's store, as booking appends it; nobody relays it."""
    payload = read(connector, connector, [(uuid.uuid4(), PATIENT)])
    version = REGISTRY.latest_version("AppointmentsAccessed")
    event = NewEvent(uuid.uuid4(), "AppointmentsAccessed", version, payload)
    EventStore(w.pool, "booking").append(f"access-{uuid.uuid4()}", [event], 0)
    with w.pool.connection() as conn:
        row = conn.execute(
            "SELECT event_id, position, stream_id, stream_version, schema_version, data,"
            " recorded_at FROM booking.events WHERE event_id = %s",
            (event.event_id,),
        ).fetchone()
    keys = ("event_id", "position", "stream_id", "stream_version", "version", "data", "at")
    return dict(zip(keys, row, strict=True))


def _ledger(w: Any, row: dict[str, Any]) -> None:
    """What audit's consumer does once the event arrives: stage it and sequence it."""
    sequencer.ingest(
        w.pool,
        ledger.IncomingEvent(
            event_id=row["event_id"],
            source_service="booking",
            source_position=row["position"],
            stream_id=row["stream_id"],
            stream_version=row["stream_version"],
            event_type="AppointmentsAccessed",
            schema_version=row["version"],
            payload=row["data"],
            metadata={"correlation_id": str(row["event_id"])},
            occurred_at=row["at"],
        ),
    )


def test_a_report_waits_for_the_ledger_and_says_what_it_waits_for(stack):
    w = stack
    staff = w.identity.admin_post(
        "/v1/staff",
        {"role": "investigator", "display_name": "Test Investigator", "password": PASSWORD},
        expect=(201,),
    )
    token = w.identity.person_token(staff["staff_id"])
    c = w.identity.admin_post(
        "/v1/connectors",
        {"name": "Agenda Sync", "vendor": "Synthetic Vendor", "contact_email": "ops@example.org"},
        expect=(201,),
    )
    row = _unledgered_read(w, c["connector_id"])
    window = {
        "title": "Behind",
        "connector_id": c["connector_id"],
        "from": (row["at"] - timedelta(minutes=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        "aware_at": datetime.now(UTC).isoformat(),
    }

    def ask(method: str, path: str, **kw: Any) -> requests.Response:
        return w.request("audit", method, path, token, **kw)

    answers: list[requests.Response] = []
    # Audit knows a connector once identity's ConnectorRegistered is ledgered: 404 before.
    eventually(
        lambda: (
            answers.append(ask("POST", "/v1/audit/incidents", json=window))
            or answers[-1].status_code != 404
        ),
        what="the connector's registration in audit",
    )
    opened = answers[-1]
    assert opened.status_code == 201, opened.text
    body = opened.json()
    incident = body["incident_id"]
    assert body["report"] is None and body["completeness"]["complete"] is False
    assert body["completeness"]["services"]["booking"]["pending"] == 1
    assert opened.headers["Location"] == f"/v1/audit/incidents/{incident}"
    assert int(opened.headers["Retry-After"]) >= 1
    for path in ("", "/report.md", "/patients.csv"):
        r = ask("GET", f"/v1/audit/incidents/{incident}{path}")
        assert r.status_code == 202 and r.json()["status"] == "incomplete", (path, r.text)
        assert r.json()["completeness"]["pending"] == 1 and "Retry-After" in r.headers
    refused = ask("POST", f"/v1/audit/incidents/{incident}/notify", json={})
    assert refused.status_code == 503 and "Retry-After" in refused.headers, refused.text
    assert ask("GET", f"/v1/audit/incidents/{incident}", params={"wait": "soon"}).status_code == 400

    started = time.monotonic()
    later = threading.Timer(1.0, _ledger, (w, row))  # audit catches up while the caller waits
    later.start()
    r = ask("GET", f"/v1/audit/incidents/{incident}", params={"wait": "true"})
    later.join()
    assert r.status_code == 200, r.text
    assert time.monotonic() - started >= 1.0  # it waited for the ledger, then answered
    report = r.json()
    assert report["completeness"]["complete"] is True
    assert report["affected"]["appointment_count"] == 1  # the read it waited for is in it
    assert "Ledger complete" in ask("GET", f"/v1/audit/incidents/{incident}/report.md").text
    assert ask("POST", f"/v1/audit/incidents/{incident}/notify", json={}).status_code == 200


def test_the_cli_waits_with_a_progress_line_then_gives_up_with_exit_3(
    fresh_migrated_database_url: str,
):
    url = fresh_migrated_database_url
    with ConnectionPool(url, min_size=1, max_size=2) as pool:
        w = SimpleNamespace(pool=pool)
        row = _unledgered_read(w, str(uuid.uuid4()))
        args = ["audit", "investigate", "--address", "198.51.100.7", "--database-url", url,
                "--from", (row["at"] - timedelta(minutes=1)).isoformat(),
                "--to", (row["at"] + timedelta(milliseconds=1)).isoformat()]  # fmt: skip
        out = CliRunner().invoke(cli, [*args, "--wait", "1.5"])
        assert out.exit_code == 3, out.output
        assert "waiting for the ledger: 1 events pending (booking 1)" in out.stderr
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: incident ") and "lacks 1 events" in last
        _ledger(w, row)
        done = CliRunner().invoke(cli, [*args, "--format", "json", "--wait", "0"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["completeness"]["complete"] is True
