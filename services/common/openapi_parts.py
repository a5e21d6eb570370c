"""Building blocks of the services' OpenAPI documents, so each openapi.py says only its routes."""

from __future__ import annotations

from typing import Any

JSON, FHIR = "application/json", "application/fhir+json"
R4 = "https://hl7.org/fhir/R4"
UUID = {"type": "string", "format": "uuid"}
WHEN = {"type": "string", "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    """A reference to one of the document's component schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def reply(schema: dict[str, Any], media: str = JSON, text: str = "OK") -> dict[str, Any]:
    """A response: its description and one media type's schema."""
    return {"description": text, "content": {media: {"schema": schema}}}


def param(name: str, where: str, schema: dict[str, Any], text: str, **extra: Any) -> dict[str, Any]:
    """A parameter in the path, query or headers."""
    return {"name": name, "in": where, "schema": schema, "description": text, **extra}


def path_id(name: str, text: str = "A UUID.") -> dict[str, Any]:
    """A required UUID path segment."""
    return param(name, "path", UUID, text, required=True)


def json_object(
    properties: dict[str, Any], *, closed: bool = False, **extra: Any
) -> dict[str, Any]:
    """An object whose listed properties are all required; closed = a request body."""
    schema = {"type": "object", "required": list(properties), "properties": properties, **extra}
    return {**schema, "additionalProperties": False} if closed else schema


def fhir_resource(resource: str, **properties: Any) -> dict[str, Any]:
    """A FHIR resource, loosely: its type is fixed, the rest is the R4 specification's."""
    return {
        "type": "object",
        "description": f"FHIR R4 {resource}: {R4}/{resource.lower()}.html",
        "required": ["resourceType"],
        "properties": {"resourceType": {"const": resource}, **properties},
    }
