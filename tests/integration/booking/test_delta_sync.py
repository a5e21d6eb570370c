"""The sync contract over HTTP (docs/booking.md): a first full sync of a granted agenda, then
`_lastUpdated=gt<the last sync's start>` returns only what changed since, each read recorded."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.integration.booking.world import World
from tests.support.stack import ADMIN_TOKEN

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@pytest.fixture(scope="module")
def agenda(world: World) -> dict[str, Any]:
    doctor, patient = world.practitioner(), world.patient()
    booked = []
    for slot in world.open_slots(doctor, count=4):
        r = world.book(ADMIN_TOKEN, slot, patient, None)
        assert r.status_code == 201, r.text
        booked.append(r.json()["id"])
    c = world.connector({doctor: ["appointment:read", "appointment:write"]})
    return {"doctor": doctor, "booked": booked, "token": c["token"]}


def search(world: World, token: str, query: str):
    return world.request("GET", f"/fhir/Appointment?{query}", token)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ids(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


def test_a_full_sync_then_a_delta_returns_only_what_changed(world, agenda):
    horizon = quote((datetime.now().astimezone() - timedelta(days=30)).date().isoformat())
    scope = f"practitioner={agenda['doctor']}&date=ge{horizon}"
    full = search(world, agenda["token"], scope)
    assert full.status_code == 200, full.text
    Bundle.model_validate(full.json())
    assert ids(full.json()) == set(agenda["booked"])
    sync_start = full.json()["meta"]["lastUpdated"]  # when the search began, server clock
    assert INSTANT.fullmatch(sync_start)
    for entry in full.json()["entry"]:
        resource = entry["resource"]
        Appointment.model_validate(resource)
        assert INSTANT.fullmatch(resource["meta"]["lastUpdated"])
        assert when(resource["meta"]["lastUpdated"]) < when(sync_start)
    # Nothing changed yet: the delta is empty (and recorded, as every search).
    delta = search(world, agenda["token"], f"{scope}&_lastUpdated=gt{quote(sync_start)}")
    assert delta.status_code == 200 and ids(delta.json()) == set()
    # One appointment is cancelled; the next delta returns it alone.
    changed = agenda["booked"][1]
    r = world.request(
        "PATCH",
        f"/fhir/Appointment/{changed}",
        agenda["token"],
        json=[{"op": "replace", "path": "/status", "value": "cancelled"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    delta = search(world, agenda["token"], f"{scope}&_lastUpdated=gt{quote(sync_start)}")
    assert ids(delta.json()) == {changed}
    (resource,) = [e["resource"] for e in delta.json()["entry"]]
    assert resource["status"] == "cancelled"
    assert when(resource["meta"]["lastUpdated"]) > when(sync_start)
    record = world.access_records()[delta.headers["X-Carnet-Access-Id"]]
    assert record["appointment_ids"] == [changed]
    # The other bound: what did not change since.
    before = search(world, agenda["token"], f"{scope}&_lastUpdated=le{quote(sync_start)}")
    assert ids(before.json()) == set(agenda["booked"]) - {changed}


@pytest.mark.parametrize(
    "value",
    [
        "gt9999-12-31T23:59:59.999999Z",
        "gt2030-01-01T10:00:00",
        "gtyesterday",
        "sa2030-01-01",
        "ge0001-01-01T00:00:00+14:00",
    ],
)
def test_bad_last_updated_is_a_400_operation_outcome(world, agenda, value):
    r = search(world, agenda["token"], f"_lastUpdated={quote(value)}")
    assert r.status_code == 400, r.text
    OperationOutcome.model_validate(r.json())
    assert "_lastUpdated" in r.text or "prefix" in r.text


def test_two_lower_bounds_or_an_empty_range_are_refused(world, agenda):
    for query in (
        "_lastUpdated=gt2030-01-01&_lastUpdated=ge2030-01-02",
        "_lastUpdated=gt2030-01-02&_lastUpdated=lt2030-01-02",
    ):
        r = search(world, agenda["token"], query)
        assert r.status_code == 400 and "_lastUpdated" in r.text


@pytest.mark.parametrize("value", ["le9999-12-31", "lt9999-12-31T23:59:59.999999Z", "ge0001-01-01"])
def test_the_calendars_edges_are_answered(world, agenda, value):
    r = search(world, agenda["token"], f"practitioner={agenda['doctor']}&_lastUpdated={value}")
    assert r.status_code == 200, r.text
    assert ids(r.json()) == set(agenda["booked"])


def test_the_parameter_is_in_the_served_document(world):
    doc = world.request("GET", "/openapi.json", None).json()
    params = doc["paths"]["/fhir/Appointment"]["get"]["parameters"]
    assert "_lastUpdated" in {p["name"] for p in params}
