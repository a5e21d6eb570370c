"""The OpenAPI 3.1 document of audit's HTTP interface, served at /openapi.json.

Investigators' answers are described by their top-level shape (docs/audit.md gives the rest);
every refusal is `{"error", "detail"}`, except /fhir/AuditEvent's, which are OperationOutcome.
"""

from __future__ import annotations

from typing import Any

from services.audit.fhir_export import MAX_COUNT
from services.audit.http_api import MAX_LIMIT
from services.audit.incident_api import MAX_BODY
from services.common.openapi_health import health_paths

JSON, FHIR = "application/json", "application/fhir+json"
# Every investigator endpoint may answer these (http_api.serve); 404/409/413 where listed.
REFUSALS = {
    "400": "A path id, an instant or a parameter that cannot be read",
    "401": "No bearer token, or identity refused it",
    "403": "Not a staff investigator or admin",
    "503": "Identity, the database or the access index is unavailable: retry",
}
UUID = {"type": "string", "format": "uuid"}
WHEN = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any], media: str = JSON, text: str = "OK") -> dict[str, Any]:
    return {"description": text, "content": {media: {"schema": schema}}}


def _param(
    name: str, where: str, schema: dict[str, Any], text: str, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, "description": text, **extra}


def _path_id(name: str) -> dict[str, Any]:
    return _param(name, "path", UUID, "A UUID (anything else is a 400).", required=True)


def _op(
    op_id: str,
    summary: str,
    ok: tuple[str, dict[str, Any]],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    fhir: bool = False,
) -> dict[str, Any]:
    """One investigator operation: bearer security and the standard refusals."""
    status, response = ok
    refusal = _ref("OperationOutcome") if fhir else _ref("Error")
    responses = {status: response}
    for code, text in sorted({**REFUSALS, **(errors or {})}.items()):
        responses[code] = _body(refusal, FHIR if fhir else JSON, text)
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "responses": responses,
        "security": [{"bearer": []}],
    }
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return op


def _incident_paths() -> dict[str, Any]:
    """Open an incident, read its report three ways, notify, record the regulator notice."""
    incident = "/v1/audit/incidents/{incident_id}"
    one = [_path_id("incident_id")]
    missing = {"404": "No such incident"}
    return {
        "/v1/audit/incidents": {
            "post": _op(
                "open_incident",
                "Open an incident for a connector or a principal over a window",
                ("201", _body(_ref("IncidentOpened"), text="Opened, with its report")),
                body=_ref("IncidentIn"),
                errors={"413": f"Body over {MAX_BODY} bytes", "415": "Not application/json"},
            )
        },
        incident: {
            "get": _op(
                "incident_report",
                "The report, recomputed from the ledger",
                ("200", _body(_ref("IncidentReport"))),
                params=one,
                errors=missing,
            )
        },
        f"{incident}/report.md": {
            "get": _op(
                "incident_markdown",
                "The report for people",
                ("200", _body({"type": "string"}, "text/markdown")),
                params=one,
                errors=missing,
            )
        },
        f"{incident}/patients.csv": {
            "get": _op(
                "incident_patients",
                "The affected patients, one row each",
                ("200", _body({"type": "string"}, "text/csv")),
                params=one,
                errors=missing,
            )
        },
        f"{incident}/notify": {
            "post": _op(
                "incident_notify",
                "Confirm: one Art. 34 notice request per affected patient, once",
                ("200", _body(_ref("NoticesRequested"))),
                params=one,
                errors={**missing, "409": "Notices were already requested"},
            )
        },
        f"{incident}/regulator-notice": {
            "post": _op(
                "incident_regulator_notice",
                "Record that the Art. 33 notice is ready",
                ("200", _body(_ref("RegulatorNotice"))),
                params=one,
                errors={**missing, "409": "Already recorded"},
            )
        },
    }


def _paths() -> dict[str, Any]:
    """Every @http route of service.py, and the shared health and metrics routes."""
    appointment = "/v1/audit/appointments/{appointment_id}"
    q = "query"
    return {
        "/v1/audit/verify": {
            "get": {
                "operationId": "verify",
                "summary": "Verify the ledger (AUDIT_ADMIN_TOKEN)",
                "responses": {
                    "200": _body(_ref("VerifyReport"), text="The report, ok or not"),
                    "401": _body(_ref("Error"), text="Not the verify token"),
                },
                "security": [{"bearer": []}],
            }
        },
        f"{appointment}/history": {
            "get": _op(
                "appointment_history",
                "Every change and access of one appointment, in ledger order",
                ("200", _body(_ref("History"))),
                params=[_path_id("appointment_id")],
                errors={"404": "The ledger never named it"},
            )
        },
        f"{appointment}/state": {
            "get": _op(
                "appointment_state",
                "The appointment's administrative state at an instant",
                ("200", _body(_ref("State"))),
                params=[
                    _path_id("appointment_id"),
                    _param("as_of", q, WHEN, "An instant with its offset; default now."),
                ],
                errors={"404": "Not booked at that instant"},
            )
        },
        "/v1/audit/accesses": {
            "get": _op(
                "access_records",
                "Access records of one principal, connector or patient",
                ("200", _body(_ref("Accesses"))),
                params=[
                    *(
                        _param(name, q, UUID, "Exactly one of principal, connector, patient.")
                        for name in ("principal", "connector", "patient")
                    ),
                    _param("from", q, WHEN, "Inclusive lower bound."),
                    _param("to", q, WHEN, "Exclusive upper bound."),
                    _param(
                        "limit",
                        q,
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                        "At most this many records (default 1000).",
                    ),
                ],
            )
        },
        **_incident_paths(),
        "/fhir/AuditEvent": {
            "get": _op(
                "audit_events",
                "Access records as FHIR R4 AuditEvents (IHE BALP)",
                ("200", _body(_ref("Bundle"), FHIR, "A searchset page")),
                params=[
                    _param(
                        "entity", q, {"type": "string"}, "Appointment/<uuid> or Patient/<uuid>."
                    ),
                    _param("agent", q, UUID, "A principal or connector id."),
                    _param(
                        "date", q, {"type": "string"}, "ge/gt/le/lt + an instant with its offset."
                    ),
                    _param(
                        "_count",
                        q,
                        {"type": "integer", "minimum": 1},
                        f"Page size; above {MAX_COUNT} is capped to {MAX_COUNT}.",
                    ),
                    _param("_cursor", q, {"type": "string"}, "Opaque; copy it from `next`."),
                ],
                fhir=True,
            )
        },
        **health_paths(),
    }


def _object(properties: dict[str, Any], *, closed: bool = False, **extra: Any) -> dict[str, Any]:
    """An object whose listed properties are all required; closed = a request body."""
    schema = {"type": "object", "required": list(properties), "properties": properties, **extra}
    return {**schema, "additionalProperties": False} if closed else schema


def _fhir(resource: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"FHIR R4 {resource}: https://hl7.org/fhir/R4/{resource.lower()}.html",
        "required": ["resourceType"],
        "properties": {"resourceType": {"const": resource}},
    }


def _schemas() -> dict[str, Any]:
    """Bodies: the incident request exactly, the answers by their top-level keys."""
    array, count, obj = {"type": "array"}, {"type": "integer", "minimum": 0}, {"type": "object"}
    return {
        "Error": _object({"error": {"type": "string"}, "detail": {"type": "string"}}),
        "OperationOutcome": _fhir("OperationOutcome"),
        "Bundle": _fhir("Bundle"),
        "History": _object({"appointment_id": UUID, "count": count, "items": array}),
        "State": _object({"appointment_id": UUID, "as_of": WHEN, "state": obj}),
        "Accesses": _object(
            {"filter": obj, "count": count, "truncated": {"type": "boolean"}, "accesses": array}
        ),
        "IncidentIn": {
            "type": "object",
            "required": ["title", "from", "to", "aware_at"],
            "description": "Exactly one of connector_id, principal_id.",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "connector_id": UUID,
                "principal_id": UUID,
                "from": WHEN,
                "to": WHEN,
                "aware_at": WHEN,
                "detection_ids": {"type": "array", "items": UUID},
            },
            "additionalProperties": False,
        },
        "IncidentReport": _object(
            {
                "incident": obj,
                "affected": obj,
                "containment": array,
                "art33": obj,
                "to_complete": array,
            }
        ),
        "IncidentOpened": _object({"incident_id": UUID, "report": _ref("IncidentReport")}),
        "NoticesRequested": _object({"incident_id": UUID, "notices_requested": count}),
        "RegulatorNotice": _object(
            {
                "incident_id": UUID,
                "prepared_at": WHEN,
                "deadline": WHEN,
                "within_deadline": {"type": "boolean"},
            }
        ),
        "VerifyReport": _object(
            {
                "ok": {"type": "boolean"},
                "ledger_size": count,
                "entries_checked": count,
                "checkpoints_checked": count,
                "findings": array,
            }
        ),
    }


def document(version: str = "1") -> dict[str, Any]:
    """The whole document; built on each call (nothing at import time)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Carnet audit",
            "version": version,
            "description": "The ledger's verify report and the investigators' endpoints.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
