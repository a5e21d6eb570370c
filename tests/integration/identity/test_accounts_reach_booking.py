"""Identity and booking on the real broker: a person suspended or reset at identity is refused
by booking within a second, because booking drops its cached principal on the event."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import pytest
import requests

from services.common.logging import configure_logging
from tests.integration.booking.world import World
from tests.support.people import PASSWORD
from tests.support.poll import eventually
from tests.support.stack import ADMIN_TOKEN


@pytest.fixture(scope="module")
def logs() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("test", level="DEBUG", stream=stream)
    return stream


@pytest.fixture(scope="module")
def world(migrated_database_url: str, module_broker: str, logs: io.StringIO) -> Iterator[World]:
    # The longest TTL booking allows (1 s): the event must win well before it.
    w = World(migrated_database_url, module_broker, BOOKING_PRINCIPAL_TTL_SECONDS=60).start()
    yield w
    w.close()


def appointment_of(world: World, practitioner: str, patient: str) -> str:
    slot = world.open_slots(practitioner, count=1)[0]
    r = world.book(ADMIN_TOKEN, slot, patient)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def dropped_by(logs: io.StringIO, event_type: str) -> list[dict]:
    lines = (json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{"))
    return [
        line
        for line in lines
        if line.get("event") == "principals.dropped" and line.get("event_type") == event_type
    ]


@pytest.mark.parametrize(
    ("kind", "how", "event_type"),
    [
        ("patient", "suspend", "AccountSuspended"),
        ("practitioner", "suspend", "AccountSuspended"),
        ("staff", "suspend", "AccountSuspended"),
        ("patient", "reset-credentials", "CredentialsReset"),
    ],
)
def test_booking_refuses_a_suspended_or_reset_person_within_a_second(
    world, logs, kind, how, event_type
):
    practitioner, patient = world.practitioner(), world.patient()
    appointment = appointment_of(world, practitioner, patient)
    reader = {"patient": patient, "practitioner": practitioner}.get(kind) or world.people.staff(
        "admin"
    )
    token = world.person_token(reader)
    path = f"/fhir/Appointment/{appointment}"
    assert world.request("GET", path, token).status_code == 200  # cached now
    before = len(dropped_by(logs, event_type))

    started = time.monotonic()
    world.admin_post(f"/v1/accounts/{reader}/{how}", {})
    while world.request("GET", path, token).status_code == 200:
        assert time.monotonic() - started < 5, "still served after 5 s"
        time.sleep(0.01)
    refused_after = time.monotonic() - started
    r = world.request("GET", path, token)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    print(f"{kind} {how}: refused by booking after {refused_after:.3f} s")
    assert refused_after < 1.0
    eventually(
        lambda: len(dropped_by(logs, event_type)) > before, what=f"booking consumed {event_type}"
    )
    # The password sign-in is refused at identity too (suspended, or no password left).
    form = {"grant_type": "password", "username": reader, "password": PASSWORD}
    r = requests.post(f"{world.identity}/oauth/token", data=form, timeout=30)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
