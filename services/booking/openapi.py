"""The OpenAPI 3.1 document of booking's HTTP interface, served at /openapi.json.

FHIR bodies are described loosely and point at the R4 specification (the fhir.resources models
are the validator, not this document); the /v1 bodies are small enough to spell out here.
"""

from __future__ import annotations

from typing import Any

from contracts.booking import ACCESS_PURPOSES
from services.booking.api import PURPOSE_HEADER
from services.booking.fhir_search import DEFAULT_PAGE, MAX_PAGE, SLOT_STATUSES
from services.booking.model import STATUSES
from services.common.openapi_parts import (
    FHIR,
    JSON,
    UUID,
    WHEN,
    fhir_resource,
    json_object,
    param,
    path_id,
    ref,
    reply,
)

PATCH = "application/json-patch+json"
# Status -> why, per kind of path; 401/403/503 can happen on every authenticated call.
FHIR_ERRORS = {
    "400": "Invalid input (OperationOutcome names the element or parameter)",
    "401": "No or refused bearer token",
    "403": "Outside the caller's grants (the refusal is recorded)",
    "413": "Body over the size limit (checked before anything else)",
    "503": "Identity or the access record unavailable: nothing served, retry",
}
V1_ERRORS = {
    "400": "Invalid body",
    "401": "No or refused bearer token",
    "403": "Not allowed",
    "413": "Body over the size limit",
    "415": "Not application/json",
    "422": "Refused by a rule: unknown practitioner, a slot in the past, too many slots",
    "503": "Identity unavailable: retry",
}


def _q(name: str, text: str, **schema: Any) -> dict[str, Any]:
    """A query parameter, a string unless said otherwise."""
    return param(name, "query", {"type": "string", **schema}, text)


def _purpose() -> dict[str, Any]:
    return param(
        PURPOSE_HEADER,
        "header",
        {"type": "string", "enum": list(ACCESS_PURPOSES)},
        "Why the data is used; written into the access record.",
    )


def _paging() -> list[dict[str, Any]]:
    count = f"Page size; values above {MAX_PAGE} are capped to {MAX_PAGE}."
    return [
        _q("_count", count, type="integer", minimum=1, default=DEFAULT_PAGE),
        _q("_cursor", "Opaque; copy it from the `next` link."),
    ]


def _practitioner() -> dict[str, Any]:
    return _q("practitioner", "Practitioner/<uuid> or <uuid>; repeats and commas are a union.")


def _served(status_text: str, *, location: bool = False) -> dict[str, Any]:
    """An appointment response with the headers routes.py sets on it."""
    text = {"schema": {"type": "string"}}
    headers = {
        "ETag": {"description": 'W/"<meta.versionId>"', **text},
        "X-Carnet-Access-Id": {"description": "The access record of this response", **text},
    }
    if location:
        headers["Location"] = {"description": "The new appointment's URL", **text}
    return {**reply(ref("Appointment"), FHIR, status_text), "headers": headers}


def _op(
    op_id: str,
    summary: str,
    ok: tuple[str, dict[str, Any]],
    *,
    params: list[dict[str, Any]] | None = None,
    body: tuple[str, dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
    fhir: bool = True,
    public: bool = False,
) -> dict[str, Any]:
    """One operation; authenticated ones carry bearer security and the standard refusals."""
    status, response = ok
    responses: dict[str, Any] = {status: response}
    if not public:
        refusals = {**(FHIR_ERRORS if fhir else V1_ERRORS), **(errors or {})}
        schema = ref("OperationOutcome") if fhir else ref("Error")
        for code, text in sorted(refusals.items()):
            responses[code] = reply(schema, FHIR if fhir else JSON, text)
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        media, schema = body
        op["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
    op["security"] = [] if public else [{"bearer": []}]
    return op


def _paths() -> dict[str, dict[str, Any]]:
    """Every route of service.py (and of the health mixin), with its parameters and bodies."""
    appointment = _served("The appointment, as far as the caller may see")
    bundle = reply(ref("Bundle"), FHIR, "A searchset page; follow `next` for more")
    date = "Start time: ge/gt/le/lt/eq + YYYY-MM-DD (a UTC day) or a dateTime with an offset."
    return {
        "/fhir/Appointment/{appointment_id}": {
            "get": _op(
                "read_appointment",
                "Read one appointment (recorded before it is sent)",
                ("200", appointment),
                params=[path_id("appointment_id"), _purpose()],
                errors={"404": "No such appointment"},
            ),
            "patch": _op(
                "patch_appointment",
                "Change the status or move to another slot (JSON Patch)",
                ("200", appointment),
                params=[path_id("appointment_id"), _purpose()],
                body=(PATCH, ref("JsonPatch")),
                errors={
                    "404": "No such appointment",
                    "409": "Version test failed, or the new slot is taken",
                    "415": "Not application/json-patch+json",
                    "422": "Status change not allowed from the current status",
                },
            ),
        },
        "/fhir/Appointment": {
            "get": _op(
                "search_appointments",
                "Search appointments within the caller's grants (recorded)",
                ("200", bundle),
                params=[
                    _practitioner(),
                    _q("patient", "Patient/<uuid> or <uuid>"),
                    _q("date", date),
                    _q("status", f"Comma-separated among {', '.join(STATUSES)}."),
                    *_paging(),
                    _purpose(),
                ],
            ),
            "post": _op(
                "book_appointment",
                "Book a free slot for a patient",
                ("201", _served("Booked", location=True)),
                params=[_purpose()],
                body=(FHIR, ref("Appointment")),
                errors={
                    "409": "The slot is taken",
                    "415": "Not application/fhir+json",
                    "422": "Booking refused",
                },
            ),
        },
        "/fhir/Slot": {
            "get": _op(
                "search_slots",
                "Search slots of practitioners within reach (no patient data)",
                ("200", bundle),
                params=[
                    _practitioner(),
                    _q("start", date),
                    _q("status", f"Among {', '.join(SLOT_STATUSES)}.", default="free"),
                    *_paging(),
                    _purpose(),
                ],
            ),
        },
        "/v1/practitioners/{practitioner_id}/slots": {
            "post": _op(
                "open_slots",
                "Open bookable slots on a practitioner's agenda",
                ("201", reply(ref("SlotsOpened"), JSON, "The slots opened")),
                params=[path_id("practitioner_id"), _purpose()],
                body=(JSON, {"oneOf": [ref("OpenSlotList"), ref("OpenSlotInterval")]}),
                errors={"404": "No such practitioner", "409": "Overlaps existing slots"},
                fhir=False,
            ),
        },
        "/v1/patients/{patient_id}/medical-key": {
            "delete": _op(
                "destroy_medical_key",
                "Destroy a patient's medical key: every sealed medical field becomes unreadable",
                ("200", reply(ref("MedicalKeyDestroyed"), JSON, "Done (idempotent)")),
                params=[path_id("patient_id"), _purpose()],
                body=(JSON, ref("EraseMedicalKey")),
                errors={"404": "No such patient"},
                fhir=False,
            ),
        },
        "/openapi.json": {
            "get": _op(
                "openapi", "This document", ("200", reply({"type": "object"}, JSON)), public=True
            )
        },
        "/health/live": {
            "get": _op("health_live", "The process answers", ("200", _health()), public=True)
        },
        "/health/ready": {
            "get": {
                **_op("health_ready", "Database and broker", ("200", _health()), public=True),
                "responses": {"200": _health(), "503": _health("Not ready")},
            }
        },
        "/metrics": {
            "get": _op(
                "metrics",
                "Prometheus metrics (no personal data)",
                ("200", reply({"type": "string"}, "text/plain")),
                public=True,
            )
        },
    }


def _health(text: str = "OK") -> dict[str, Any]:
    return reply({"type": "object", "properties": {"status": {"type": "string"}}}, JSON, text)


def _schemas() -> dict[str, Any]:
    """Components: the FHIR resources (loose) and the /v1 bodies (exact)."""
    uuid, when = UUID, WHEN
    service_type = {"type": "string", "minLength": 1, "maxLength": 200}
    interval = json_object({"start": when, "end": when}, closed=True)
    patch_op = json_object(
        {
            "op": {"enum": ["replace", "test"]},
            "path": {"enum": ["/status", "/slot/0/reference", "/meta/versionId"]},
            "value": {},
        }
    )
    medical = "Medical: only with the medical scope (max {} characters)"
    return {
        "Appointment": fhir_resource(
            "Appointment",
            status={"enum": [*STATUSES, "proposed"]},
            specialty={"description": "Sensitive: only with the sensitive class"},
            serviceType={"description": "Sensitive: only with the sensitive class"},
            reasonCode={"description": medical.format(1000)},
            comment={"description": medical.format(4000)},
        ),
        "Slot": fhir_resource("Slot", status={"enum": list(SLOT_STATUSES)}),
        "Bundle": fhir_resource("Bundle", type={"const": "searchset"}),
        "OperationOutcome": fhir_resource(
            "OperationOutcome", issue={"type": "array", "minItems": 1}
        ),
        "JsonPatch": {
            "type": "array",
            "minItems": 1,
            "description": "RFC 6902: replace /status or /slot/0/reference (not both), "
            "optionally after test /meta/versionId",
            "items": patch_op,
        },
        "OpenSlotList": json_object(
            {
                "service_type": service_type,
                "slots": {"type": "array", "minItems": 1, "maxItems": 500, "items": interval},
            },
            closed=True,
        ),
        "OpenSlotInterval": json_object(
            {
                "service_type": service_type,
                "start": when,
                "end": when,
                "duration_minutes": {"type": "integer", "minimum": 5, "maximum": 480},
            },
            closed=True,
        ),
        "SlotsOpened": json_object(
            {
                "practitioner_id": uuid,
                "slots": {
                    "type": "array",
                    "items": json_object({"slot_id": uuid, "start": when, "end": when}),
                },
            }
        ),
        "EraseMedicalKey": json_object(
            {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}, closed=True
        ),
        "MedicalKeyDestroyed": json_object(
            {"patient_id": uuid, "key_destroyed": {"type": "boolean"}}
        ),
        "Error": json_object({"error": {"type": "string"}, "detail": {"type": "string"}}),
    }


def document(version: str = "1") -> dict[str, Any]:
    """The whole document; built on each call (nothing at import time)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Carnet booking",
            "version": version,
            "description": "FHIR R4 appointments and slots for connectors; every read recorded.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
