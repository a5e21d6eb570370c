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

# Every investigator endpoint may answer these (http_api.serve); 404/409/413 where listed.
REFUSALS = {
    "400": "A path id, an instant or a parameter that cannot be read",
    "401": "No bearer token, or identity refused it",
    "403": "Not a staff investigator or admin",
    "503": "Identity, the database or the access index is unavailable: retry",
}
ANY_ELSE_400 = "A UUID (anything else is a 400)."


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
    refusal = ref("OperationOutcome") if fhir else ref("Error")
    responses = {status: response}
    for code, text in sorted({**REFUSALS, **(errors or {})}.items()):
        responses[code] = reply(refusal, FHIR if fhir else JSON, text)
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
    one = [path_id("incident_id", ANY_ELSE_400)]
    missing = {"404": "No such incident"}
    return {
        "/v1/audit/incidents": {
            "post": _op(
                "open_incident",
                "Open an incident for a connector or a principal over a window",
                ("201", reply(ref("IncidentOpened"), text="Opened, with its report")),
                body=ref("IncidentIn"),
                errors={"413": f"Body over {MAX_BODY} bytes", "415": "Not application/json"},
            )
        },
        incident: {
            "get": _op(
                "incident_report",
                "The report, recomputed from the ledger",
                ("200", reply(ref("IncidentReport"))),
                params=one,
                errors=missing,
            )
        },
        f"{incident}/report.md": {
            "get": _op(
                "incident_markdown",
                "The report for people",
                ("200", reply({"type": "string"}, "text/markdown")),
                params=one,
                errors=missing,
            )
        },
        f"{incident}/patients.csv": {
            "get": _op(
                "incident_patients",
                "The affected patients, one row each",
                ("200", reply({"type": "string"}, "text/csv")),
                params=one,
                errors=missing,
            )
        },
        f"{incident}/notify": {
            "post": _op(
                "incident_notify",
                "Confirm: one Art. 34 notice request per affected patient, once",
                ("200", reply(ref("NoticesRequested"))),
                params=one,
                errors={**missing, "409": "Notices were already requested"},
            )
        },
        f"{incident}/regulator-notice": {
            "post": _op(
                "incident_regulator_notice",
                "Record that the Art. 33 notice is ready",
                ("200", reply(ref("RegulatorNotice"))),
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
                    "200": reply(ref("VerifyReport"), text="The report, ok or not"),
                    "401": reply(ref("Error"), text="Not the verify token"),
                },
                "security": [{"bearer": []}],
            }
        },
        f"{appointment}/history": {
            "get": _op(
                "appointment_history",
                "Every change and access of one appointment, in ledger order",
                ("200", reply(ref("History"))),
                params=[path_id("appointment_id", ANY_ELSE_400)],
                errors={"404": "The ledger never named it"},
            )
        },
        f"{appointment}/state": {
            "get": _op(
                "appointment_state",
                "The appointment's administrative state at an instant",
                ("200", reply(ref("State"))),
                params=[
                    path_id("appointment_id", ANY_ELSE_400),
                    param("as_of", q, WHEN, "An instant with its offset; default now."),
                ],
                errors={"404": "Not booked at that instant"},
            )
        },
        "/v1/audit/accesses": {
            "get": _op(
                "access_records",
                "Access records of one principal, connector or patient",
                ("200", reply(ref("Accesses"))),
                params=[
                    *(
                        param(name, q, UUID, "Exactly one of principal, connector, patient.")
                        for name in ("principal", "connector", "patient")
                    ),
                    param("from", q, WHEN, "Inclusive lower bound."),
                    param("to", q, WHEN, "Exclusive upper bound."),
                    param(
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
                ("200", reply(ref("Bundle"), FHIR, "A searchset page")),
                params=[
                    param("entity", q, {"type": "string"}, "Appointment/<uuid> or Patient/<uuid>."),
                    param("agent", q, UUID, "A principal or connector id."),
                    param(
                        "date", q, {"type": "string"}, "ge/gt/le/lt + an instant with its offset."
                    ),
                    param(
                        "_count",
                        q,
                        {"type": "integer", "minimum": 1},
                        f"Page size; above {MAX_COUNT} is capped to {MAX_COUNT}.",
                    ),
                    param("_cursor", q, {"type": "string"}, "Opaque; copy it from `next`."),
                ],
                fhir=True,
            )
        },
        **health_paths(),
    }


def _schemas() -> dict[str, Any]:
    """Bodies: the incident request exactly, the answers by their top-level keys."""
    array, count, obj = {"type": "array"}, {"type": "integer", "minimum": 0}, {"type": "object"}
    return {
        "Error": json_object({"error": {"type": "string"}, "detail": {"type": "string"}}),
        "OperationOutcome": fhir_resource("OperationOutcome"),
        "Bundle": fhir_resource("Bundle"),
        "History": json_object({"appointment_id": UUID, "count": count, "items": array}),
        "State": json_object({"appointment_id": UUID, "as_of": WHEN, "state": obj}),
        "Accesses": json_object(
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
        "IncidentReport": json_object(
            {
                "incident": obj,
                "affected": obj,
                "containment": array,
                "art33": obj,
                "to_complete": array,
            }
        ),
        "IncidentOpened": json_object({"incident_id": UUID, "report": ref("IncidentReport")}),
        "NoticesRequested": json_object({"incident_id": UUID, "notices_requested": count}),
        "RegulatorNotice": json_object(
            {
                "incident_id": UUID,
                "prepared_at": WHEN,
                "deadline": WHEN,
                "within_deadline": {"type": "boolean"},
            }
        ),
        "VerifyReport": json_object(
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
