"""identity's /openapi.json: its bodies are the marshmallow schemas the routes validate with."""

from __future__ import annotations

from services.common.http.openapi import document
from services.identity.routes import API


def test_every_registration_documents_its_closed_request_schema():
    doc = document(API)
    components = doc["components"]["schemas"]
    for path in ("/v1/practitioners", "/v1/patients", "/v1/staff", "/v1/connectors"):
        ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert components[ref["$ref"].rsplit("/", 1)[1]]["additionalProperties"] is False
    token = doc["paths"]["/oauth/token"]["post"]
    assert set(token["requestBody"]["content"]) == {"application/x-www-form-urlencoded"}
    assert token["security"] == []
    refused = token["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    assert refused.endswith("/OAuthError")


def test_no_response_schema_but_the_two_secret_ones_mentions_a_secret():
    components = document(API)["components"]["schemas"]
    with_secret = {n for n, s in components.items() if "client_secret" in s.get("properties", {})}
    assert with_secret == {"ConnectorCreated", "SecretOut", "TokenIn"}
