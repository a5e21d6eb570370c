"""Every Carnet service as `carnet up` runs it, on a database and vhost of its own, with tokens.

The hostile-HTTP suites (test_http_schemathesis.py, test_http_hostile_input.py) share one
stack per run: starting four nameko processes costs more than the requests themselves.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from services.audit.signing import new_seed
from services.booking.crypto import generate_master_key_b64
from services.cli.supervisor import Supervisor
from services.common.broker import apply_policies, declare_topology
from services.common.config import SERVICES
from tests.support.infra import (
    RABBIT_AUTH,
    RABBIT_MGMT,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.support.people import SCOPES, IdentityClient
from tests.support.poll import eventually
from tests.support.ports import free_port
from tests.support.processes import TEARDOWN_GRACE_S

ADMIN_TOKEN = "security-admin-token-" + "0" * 24
# What must never reach a client: a Python traceback, nameko's "Error: Type: text" page, a
# psycopg message, a file path of the code.
LEAK = re.compile(
    r"Traceback \(most recent call last\)|^Error: \w+: |psycopg|File \"/|site-packages", re.M
)
# Log events the services write when a request failed unexpectedly (each answers a 500).
FAILURE_EVENTS = ("http.failed",)


@dataclass
class HttpStack:
    """Where each service answers, the tokens of each kind of caller, and a few real ids."""

    urls: dict[str, str]
    log_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def url(self, service: str, path: str = "") -> str:
        """An absolute URL on `service`."""
        return f"{self.urls[service]}{path}"

    def failures_logged(self) -> list[dict[str, Any]]:
        """Every log line saying a request failed unexpectedly (expected refusals excluded)."""
        found = []
        for log in sorted(self.log_dir.glob("*.log")):
            for raw in log.read_text(errors="replace").splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    found.append({"service": log.stem, "raw": raw[:300]})
                    continue
                unexpected = line.get("level") in ("error", "critical") and "exception" in line
                if line.get("event") in FAILURE_EVENTS or unexpected:
                    found.append({k: line.get(k) for k in ("service", "level", "event")})
        return found


def _until_known(send: Any, timeout: float = 60.0) -> requests.Response:
    """Booking learns people from identity's events a moment after registration: retry."""
    # A tuple: a refused Response is falsy (Response.__bool__ is .ok), yet it is an answer.
    known = eventually(
        lambda: (r := send()).status_code not in (404, 422) and (r,),
        timeout,
        "booking to know them",
        interval=0.2,
    )
    return known[0]


def seed(stack: HttpStack) -> None:
    """An investigator, a practitioner with slots, a patient, a granted connector, a booking,
    an incident."""
    people = IdentityClient(stack.url("identity"), ADMIN_TOKEN)
    staff_id, pid = people.staff("investigator"), people.practitioner()
    patient_id = people.patient(password=None)
    connector = people.connector({pid: SCOPES})
    stack.tokens = {
        "admin": ADMIN_TOKEN,
        "investigator": people.person_token(staff_id),
        "practitioner": people.person_token(pid),
        "connector": connector["token"],
    }
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    body = {
        "service_type": "consultation",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=60)).isoformat(),
        "duration_minutes": 20,
    }
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    r = _until_known(
        lambda: requests.post(
            stack.url("booking", f"/v1/practitioners/{pid}/slots"),
            json=body,
            headers=admin,
            timeout=60,
        )
    )
    assert r.status_code == 201, r.text
    slot_id = r.json()["slots"][0]["slot_id"]
    appointment = {
        "resourceType": "Appointment",
        "status": "proposed",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}],
        "reasonCode": [{"text": "synthetic reason"}],
    }
    connector_auth = {
        "Authorization": f"Bearer {stack.tokens['connector']}",
        "Content-Type": "application/fhir+json",
    }
    r = _until_known(
        lambda: requests.post(
            stack.url("booking", "/fhir/Appointment"),
            data=json.dumps(appointment),
            headers=connector_auth,
            timeout=60,
        )
    )
    assert r.status_code == 201, r.text
    appointment_id = r.json()["id"]
    window = {"from": (start - timedelta(days=30)).isoformat(), "to": start.isoformat()}
    r = requests.post(
        stack.url("audit", "/v1/audit/incidents"),
        json={
            "title": "Synthetic",
            "connector_id": connector["connector_id"],
            **window,
            "aware_at": start.isoformat(),
        },
        headers={"Authorization": f"Bearer {stack.tokens['investigator']}"},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    stack.ids = {
        "incident_id": r.json()["incident_id"],
        "practitioner_id": pid,
        "patient_id": patient_id,
        "staff_id": staff_id,
        "connector_id": connector["connector_id"],
        "appointment_id": appointment_id,
        "slot_id": slot_id,
    }


@pytest.fixture(scope="session")
def security_http_stack(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: str
) -> Iterator[HttpStack]:
    """The four services on a fresh migrated database and vhost, seeded, stopped at the end."""
    database_url = create_database("carnet_sec_http", template=migrated_template)
    amqp_uri = create_vhost("carnet-sec-http")
    supervisor = None
    try:
        apply_policies(amqp_uri, RABBIT_MGMT, RABBIT_AUTH)
        declare_topology(amqp_uri)
        ports = {svc: free_port() for svc in SERVICES}
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "AMQP_URI": amqp_uri,
            "CARNET_ADMIN_TOKEN": ADMIN_TOKEN,
            "AUDIT_SIGNING_KEY": new_seed(),
            "AUDIT_SIGNING_KEY_ID": "security-suite",
            "AUDIT_VERIFY_DATABASE_URL": database_url,
            "BOOKING_MASTER_KEY": generate_master_key_b64(),
            "SMS_OUTBOX_PATH": str(tmp_path_factory.mktemp("sms") / "outbox.jsonl"),
            **{f"{svc.upper()}_HTTP_PORT": str(port) for svc, port in ports.items()},
        }
        supervisor = Supervisor(env=env, log_dir=tmp_path_factory.mktemp("security-http-logs"))
        supervisor.start()
        status = supervisor.wait_ready(timeout=120)
        assert all(s.get("status") == "ready" for s in status.values()), status
        stack = HttpStack(
            urls={c.service: c.url for c in supervisor.children}, log_dir=supervisor.log_dir
        )
        seed(stack)
        yield stack
    finally:
        if supervisor is not None:
            supervisor.stop(grace=TEARDOWN_GRACE_S)
        delete_vhost(amqp_uri)
        drop_database(database_url)
