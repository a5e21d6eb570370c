"""What a partner's FHIR client discovers and negotiates, over HTTP: the CapabilityStatement
and SMART's configuration without a token, JSON or 406, ETag and Last-Modified, 304."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.integration.booking.world import World
from tests.support.stack import ADMIN_TOKEN


@pytest.fixture(scope="module")
def seen(world: World) -> dict:
    """One booked appointment and a connector that may read it."""
    p = world.practitioner()
    slot = world.open_slots(p, count=1)[0]
    r = world.book(ADMIN_TOKEN, slot, world.patient(), None)
    assert r.status_code == 201, r.text
    return {"p": p, "id": r.json()["id"], "reader": world.connector({p: ["appointment:read"]})}


def test_metadata_and_smart_configuration_need_no_token(world):
    r = world.request("GET", "/fhir/metadata", None)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/fhir+json")
    CapabilityStatement.model_validate(r.json())
    types = {x["type"] for x in r.json()["rest"][0]["resource"]}
    assert types == {"Appointment", "Slot"}
    smart = world.request("GET", "/fhir/.well-known/smart-configuration", None)
    assert smart.status_code == 200 and smart.json()["token_endpoint"].endswith("/oauth/token")
    assert "system/Appointment.rs" in smart.json()["scopes_supported"]


def test_a_format_other_than_json_is_refused_with_406_before_anything_is_read(world, seen):
    token, before = seen["reader"]["token"], len(world.access_records())
    for params, headers in (
        ({"_format": "xml"}, {}),
        ({"_format": "application/fhir+xml"}, {}),
        ({}, {"Accept": "application/fhir+xml"}),
        ({}, {"Accept": "application/json;q=0, text/turtle"}),
    ):
        r = world.request("GET", f"/fhir/Appointment/{seen['id']}", token, params=params,
                          headers=headers)  # fmt: skip
        assert r.status_code == 406, (params, headers, r.text)
        OperationOutcome.model_validate(r.json())
        assert r.json()["issue"][0]["code"] == "not-supported"
    xml = world.request("GET", "/fhir/metadata", None, params={"_format": "xml"})
    assert xml.status_code == 406
    assert len(world.access_records()) == before  # nothing was read, nothing recorded
    json_ok = (
        ({"_format": "json"}, {}),
        ({}, {"Accept": "application/fhir+json"}),
        ({"_format": "application/fhir+json"}, {"Accept": "text/xml"}),  # _format wins
    )
    for params, headers in json_ok:
        query = {"practitioner": seen["p"], **params}
        r = world.request("GET", "/fhir/Appointment", token, params=query, headers=headers)
        assert r.status_code == 200, r.text


def test_a_read_carries_etag_and_last_modified_and_a_current_copy_gets_304(world, seen):
    token = seen["reader"]["token"]
    r = world.request("GET", f"/fhir/Appointment/{seen['id']}", token)
    assert r.status_code == 200
    etag, meta = r.headers["ETag"], r.json()["meta"]
    assert etag == f'W/"{meta["versionId"]}"'
    modified = parsedate_to_datetime(r.headers["Last-Modified"])  # HTTP dates: whole seconds
    updated = datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00"))
    assert timedelta(0) <= updated - modified < timedelta(seconds=1)
    before = len(world.access_records())
    same = world.request("GET", f"/fhir/Appointment/{seen['id']}", token,
                         headers={"If-None-Match": etag})  # fmt: skip
    assert same.status_code == 304 and same.content == b""
    assert same.headers["ETag"] == etag
    records = world.access_records()
    assert len(records) == before + 1  # a 304 is still an access, recorded as a read
    record = records[same.headers["X-Carnet-Access-Id"]]
    assert record["outcome"] == "success" and record["appointment_ids"] == [seen["id"]]
    other = world.request("GET", f"/fhir/Appointment/{seen['id']}", token,
                          headers={"If-None-Match": 'W/"999"'})  # fmt: skip
    assert other.status_code == 200 and other.json()["id"] == seen["id"]
