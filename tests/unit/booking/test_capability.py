"""FHIR discovery from the route table: a valid CapabilityStatement, SMART's configuration."""

from __future__ import annotations

import dataclasses

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from services.booking import capability
from services.booking.routes import API
from services.common.http.routes import Api, Param

TOKEN = "https://identity.example/oauth/token"


def test_the_statement_validates_and_says_what_the_table_serves():
    doc = capability.statement(API, "https://carnet.example", TOKEN)
    CapabilityStatement.model_validate(doc)
    assert (doc["kind"], doc["fhirVersion"], doc["format"]) == ("instance", "4.0.1", ["json"])
    assert doc["implementation"]["url"] == "https://carnet.example/fhir"
    (rest,) = doc["rest"]
    resources = {r["type"]: r for r in rest["resource"]}
    assert set(resources) == {"Appointment", "Slot"}  # discovery itself is not a resource
    codes = {r: [i["code"] for i in e["interaction"]] for r, e in resources.items()}
    assert codes == {"Appointment": ["read", "search-type", "create", "patch"],
                     "Slot": ["search-type"]}  # fmt: skip
    params = {p["name"]: p["type"] for p in resources["Appointment"]["searchParam"]}
    assert params == {"practitioner": "reference", "patient": "reference", "date": "date",
                      "_lastUpdated": "date", "status": "token"}  # fmt: skip
    assert {p["name"] for p in resources["Slot"]["searchParam"]} == {
        "practitioner", "start", "status"
    }  # fmt: skip
    security = rest["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert security["extension"][0]["extension"] == [{"url": "token", "valueUri": TOKEN}]


def test_a_search_parameter_without_a_fhir_type_fails_the_build():
    search = API.route("search_slots")
    odd = dataclasses.replace(search, params=(*search.params, Param("colour", "Not FHIR")))
    with pytest.raises(KeyError, match="colour"):
        capability.statement(Api("booking", "x", (odd,)), "https://c", TOKEN)


def test_smart_configuration_names_the_token_endpoint_and_v2_scopes_first():
    conf = capability.smart_configuration(TOKEN)
    assert conf["token_endpoint"] == TOKEN
    assert conf["grant_types_supported"] == ["client_credentials"]
    assert conf["scopes_supported"][:2] == ["system/Appointment.rs", "system/Appointment.cu"]
    assert "client-confidential-symmetric" in conf["capabilities"]
