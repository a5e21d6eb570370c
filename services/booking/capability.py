"""FHIR discovery, generated from booking's route table: the CapabilityStatement and SMART's
configuration, so a partner's client learns what is served from the server, not from a PDF.

The statement lists each FHIR route's resource, interaction and search parameters as the table
declares them (a parameter without a FHIR search type here fails the unit test that builds it);
the SMART configuration names identity's token endpoint and the scopes it accepts, SMART v2
system scopes first, Carnet's own names as aliases (docs/booking.md, "FHIR discovery").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from services.common.http.routes import Api, Route

FHIR_VERSION = "4.0.1"  # R4: what the resources validate against (fhir.resources' R4B models)
STARTED = datetime.now(UTC).replace(microsecond=0)  # the surface is fixed for the process
# (method, has an id in the path) -> the FHIR interaction.
INTERACTIONS = {
    ("GET", True): "read",
    ("GET", False): "search-type",
    ("POST", False): "create",
    ("PATCH", True): "patch",
    ("PUT", True): "update",
    ("DELETE", True): "delete",
}
# Each search parameter's FHIR type; `_count` and `_cursor` are result parameters, not searches.
SEARCH_TYPES = {
    "practitioner": "reference",
    "patient": "reference",
    "date": "date",
    "start": "date",
    "_lastUpdated": "date",
    "status": "token",
}
RESULT_PARAMS = frozenset({"_count", "_cursor"})
DISCOVERY = ("/fhir/metadata", "/fhir/.well-known/smart-configuration")
# SMART v2 system scopes (and v1's spelling) -> identity's scopes; docs/booking.md lists them.
SMART_SCOPES = ("system/Appointment.rs", "system/Appointment.cu")
CARNET_SCOPES = ("appointment:read", "appointment:write", "appointment:read-medical")
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def carnet_version() -> str:
    """The installed package's version (the source tree's when not installed)."""
    try:
        return version("carnet")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        return "0.0.0"


def _resource_routes(api: Api) -> dict[str, list[Route]]:
    """FHIR routes by resource type, in table order (discovery itself left out)."""
    found: dict[str, list[Route]] = {}
    for route in api.routes:
        if route.path.startswith("/fhir/") and route.path not in DISCOVERY:
            found.setdefault(route.path.split("/")[2], []).append(route)
    return found


def _search_params(route: Route) -> list[dict[str, str]]:
    """A search route's parameters as FHIR names them; KeyError for one without a FHIR type."""
    return [
        {"name": p.name, "type": SEARCH_TYPES[p.name], "documentation": p.text}
        for p in route.params
        if p.where == "query" and p.name not in RESULT_PARAMS
    ]


def _resource(kind: str, routes: Iterable[Route]) -> dict[str, Any]:
    """One resource's entry: its interactions and search parameters."""
    interactions, params = [], []
    for route in routes:
        code = INTERACTIONS[(route.method, bool(route.path_params))]
        interactions.append({"code": code, "documentation": route.summary})
        if code == "search-type":
            params += _search_params(route)
    entry: dict[str, Any] = {"type": kind, "interaction": interactions}
    if params:
        entry["searchParam"] = params
    if kind == "Appointment":  # meta.versionId, ETag and If-Match on PATCH
        entry["versioning"] = "versioned"
    return entry


def statement(api: Api, base_url: str, token_url: str) -> dict[str, Any]:
    """The CapabilityStatement of this server (kind instance), from its route table."""
    resources = [_resource(kind, routes) for kind, routes in _resource_routes(api).items()]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STARTED.isoformat(),
        "publisher": "Carnet",
        "kind": "instance",
        "software": {"name": "Carnet booking", "version": carnet_version()},
        "implementation": {"description": api.description, "url": f"{base_url}/fhir"},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Every read and search is recorded before it is sent.",
                "security": {
                    "extension": [
                        {
                            "url": OAUTH_URIS,
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                    "service": [
                        {"coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}]}
                    ],
                    "description": (
                        "SMART backend services: OAuth2 client credentials with a client secret "
                        "at the token endpoint; system scopes (.well-known/smart-configuration)."
                    ),
                },
                "resource": resources,
            }
        ],
    }


def smart_configuration(token_url: str) -> dict[str, Any]:
    """/fhir/.well-known/smart-configuration: what a backend client needs to get a token."""
    return {
        "token_endpoint": token_url,
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": [*SMART_SCOPES, *CARNET_SCOPES],
        "capabilities": ["client-confidential-symmetric", "permission-v2", "permission-v1"],
        "code_challenge_methods_supported": [],
    }
