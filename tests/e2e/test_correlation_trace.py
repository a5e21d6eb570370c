"""One booking, followed by its correlation id through the four services' logs (issue #9).

The four services run as processes (Supervisor), on a fresh database and vhost. The caller
sets X-Correlation-ID on POST /fhir/Appointment; the response returns it; `carnet logs trace`
on the log directory then finds that id on lines of booking (the request, the booking),
identity (the token check, an RPC), audit and notification (the AppointmentBooked event).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from services.cli.main import cli
from services.cli.supervisor import ROOT, Supervisor
from services.common.config import AUDITOR, SERVICES, service_database_url
from tests.support.poll import eventually
from tests.support.ports import free_port
from tests.support.processes import TEARDOWN_GRACE_S

pytestmark = pytest.mark.slow
FHIR = "application/fhir+json"


def trace(correlation_id: str, log_dir: Path) -> list[dict]:
    """`carnet logs trace ID DIR --json`, parsed (no line yet: an empty list)."""
    result = CliRunner().invoke(cli, ["logs", "trace", correlation_id, str(log_dir), "--json"])
    return [json.loads(x) for x in result.stdout.splitlines()]


@pytest.fixture
def system(fresh_migrated_database_url, fresh_broker, tmp_path):
    admin = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        **{f"{svc.upper()}_HTTP_PORT": str(free_port()) for svc in SERVICES},
        "DATABASE_URL": fresh_migrated_database_url,
        "AMQP_URI": fresh_broker,
        "AUDIT_VERIFY_DATABASE_URL": service_database_url(fresh_migrated_database_url, AUDITOR, {}),
        "CARNET_ADMIN_TOKEN": admin,
        # Every request asks identity (no cached principal): the token check is always an RPC.
        "BOOKING_PRINCIPAL_TTL_SECONDS": "0",
    }
    supervisor = Supervisor(env=env, log_dir=tmp_path / "log")
    supervisor.start()
    try:
        status = supervisor.wait_ready(timeout=120)
        assert {s: v.get("status") for s, v in status.items()} == dict.fromkeys(SERVICES, "ready")
        yield supervisor, admin
    finally:
        supervisor.stop(grace=TEARDOWN_GRACE_S)


def test_one_booking_is_traced_through_the_four_services(system):
    supervisor, admin = system
    url = {child.service: child.url for child in supervisor.children}
    log_dir = supervisor.log_dir
    auth = {"Authorization": f"Bearer {admin}"}

    def register(path: str, body: dict) -> tuple[str, str]:
        r = requests.post(f"{url['identity']}{path}", json=body, headers=auth, timeout=60)
        assert r.status_code == 201, r.text
        return r.json(), r.headers["X-Correlation-ID"]

    practitioner, _ = register(
        "/v1/practitioners",
        {
            "given_name": "Lou",
            "family_name": "Trace",
            "specialty": "dermatology",
            "email": "lou.trace@example.org",
        },
    )
    patient, registered = register(
        "/v1/patients",
        {
            "given_name": "Sacha",
            "family_name": "Trace",
            "birth_date": "1980-02-03",
            "gender": "other",
            "email": "sacha.trace@example.org",
            "preferred_language": "en",
        },
    )
    practitioner_id, patient_id = practitioner["practitioner_id"], patient["patient_id"]

    # Booking learns of the practitioner from identity's event: opening slots works then.
    start = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    slot_body = {
        "service_type": "consultation",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=20)).isoformat(),
        "duration_minutes": 20,
    }

    def open_slot():
        r = requests.post(
            f"{url['booking']}/v1/practitioners/{practitioner_id}/slots",
            json=slot_body,
            headers=auth,
            timeout=60,
        )
        return r.status_code == 201 and r.json()["slots"][0]["slot_id"]

    slot_id = eventually(open_slot, 120, "booking to know the practitioner", interval=0.3)

    # … and of the patient: the registration's own trace shows booking handling its event.
    def booking_knows_patient():
        return [
            x
            for x in trace(registered, log_dir)
            if x["service.name"] == "booking"
            and x["event"] == "event.handled"
            and x.get("event_type") == "PatientRegistered"
        ]

    eventually(booking_knows_patient, 120, "booking to handle PatientRegistered", interval=0.3)

    chosen = f"trace-{uuid.uuid4()}"
    r = requests.post(
        f"{url['booking']}/fhir/Appointment",
        json={
            "resourceType": "Appointment",
            "status": "proposed",
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}
            ],
        },
        headers={**auth, "Content-Type": FHIR, "X-Correlation-ID": chosen},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    assert r.headers["X-Correlation-ID"] == chosen
    appointment_id = r.headers["Location"].rsplit("/", 1)[-1]

    def from_every_service():
        lines = trace(chosen, log_dir)
        return {x["service.name"] for x in lines} >= set(SERVICES) and lines

    lines = eventually(from_every_service, 120, f"lines of {chosen} from {SERVICES}", 0.3)
    by_service: dict[str, list[dict]] = {}
    for line in lines:
        assert line["correlation_id"] == chosen
        by_service.setdefault(line["service.name"], []).append(line)

    events = {(x["event"], x.get("entrypoint"), x.get("event_type")) for x in lines}
    booking = by_service["booking"]
    (access,) = [x for x in booking if x["event"] == "http.request"]
    assert access["route"] == "/fhir/Appointment" and access["status"] == 201
    assert any(
        x["event"] == "appointment.booked" and x["appointment_id"] == appointment_id
        for x in booking
    )
    # identity: the token check came as an RPC carrying the caller's correlation id.
    assert ("rpc.handled", "authenticate", None) in events
    assert all(x["outcome"] == "ok" for x in by_service["identity"])
    # audit and notification: the AppointmentBooked event, consumed under the same id.
    assert ("event.handled", "on_appointment_event", "AppointmentBooked") in events
    assert any(
        x["event"] == "event.handled" and x.get("event_type") == "AppointmentBooked"
        for x in by_service["audit"]
    )
    assert any(
        x["event"] == "ledger.appended" and x.get("event_type") == "AppointmentBooked"
        for x in by_service["audit"]
    )
    stamps = [x["timestamp"] for x in lines]
    assert stamps == sorted(stamps)

    # The installed command, as on-call runs it: compact lines, the services on stderr.
    done = subprocess.run(
        [str(Path(sys.executable).parent / "carnet"), "logs", "trace", chosen, str(log_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(done.stdout.splitlines()) >= len(lines)
    assert "from audit, booking, identity, notification" in done.stderr
    assert "sacha.trace@example.org" not in log_dir.joinpath("identity.log").read_text()
