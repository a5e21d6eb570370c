"""The incident endpoints as plain functions: parse, call incidents.py, map refusals to HTTP.

Authentication and the investigator check are http_api.serve's; these bodies run after it,
with the principal, so the acts are attributed to whoever performed them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from services.audit import incidents, report
from services.audit.http_api import HttpError, bad_request, parse_instant, parse_uuid
from services.audit.investigation import Subject
from services.common.eventstore.store import EventStore
from services.common.json_input import BadJson, parse_json

MAX_BODY = 16 * 1024
JSON = "application/json"
_OPEN_KEYS = {"title", "connector_id", "principal_id", "from", "to", "aware_at", "detection_ids"}


def _body(raw: bytes, media_type: str) -> dict[str, Any]:
    if len(raw) > MAX_BODY:
        raise HttpError(413, "payload_too_large", f"max {MAX_BODY} bytes")
    if media_type != JSON:
        raise HttpError(415, "unsupported_media_type", f"send {JSON}")
    try:
        data = parse_json(raw)
    except BadJson as error:
        raise bad_request(f"the body must be a JSON object: {error}") from None
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object")
    return data


def _who(principal: Mapping[str, Any]) -> UUID:
    return UUID(str(principal["id"]))


def _refusal(error: incidents.IncidentError) -> HttpError:
    code = {404: "not_found", 409: "conflict"}.get(error.status, "bad_request")
    return HttpError(error.status, code, error.detail)


def open_incident(
    pool: Any,
    store: EventStore,
    raw: bytes,
    principal: Mapping[str, Any],
    media_type: str = JSON,
) -> dict[str, Any]:
    """POST /v1/audit/incidents: open, and answer with the report computed right away."""
    data = _body(raw, media_type)
    unknown = set(data) - _OPEN_KEYS
    if unknown:
        raise bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 200:
        raise bad_request("title: 1 to 200 characters")
    subject = Subject(
        parse_uuid(data["connector_id"], "connector_id") if data.get("connector_id") else None,
        parse_uuid(data["principal_id"], "principal_id") if data.get("principal_id") else None,
    )
    if (subject.connector_id is None) == (subject.principal_id is None):
        raise bad_request("give exactly one of connector_id, principal_id")
    for key in ("from", "to", "aware_at"):
        if not isinstance(data.get(key), str):
            raise bad_request(f"{key}: an ISO-8601 instant with its offset")
    detections = data.get("detection_ids") or []
    if not isinstance(detections, list):
        raise bad_request("detection_ids: a list of UUIDs")
    try:
        with pool.connection() as conn:
            incident_id = incidents.open_incident(
                conn,
                store,
                opened_by=_who(principal),
                title=title,
                subject=subject,
                start=parse_instant(data["from"], "from"),
                end=parse_instant(data["to"], "to"),
                aware_at=parse_instant(data["aware_at"], "aware_at"),
                detection_ids=[parse_uuid(d, "detection_ids") for d in detections],
            )
            built = incidents.build_report(conn, incident_id)
    except incidents.IncidentError as error:
        raise _refusal(error) from None
    return {"incident_id": str(incident_id), "report": built}


def get_report(pool: Any, incident_id: str) -> dict[str, Any]:
    """GET /v1/audit/incidents/{id}: the report as JSON, recomputed from the ledger."""
    try:
        with pool.connection() as conn:
            return incidents.build_report(conn, parse_uuid(incident_id, "incident id"))
    except incidents.IncidentError as error:
        raise _refusal(error) from None


def report_markdown(pool: Any, incident_id: str) -> str:
    """GET …/report.md: the same report for people."""
    return report.markdown(get_report(pool, incident_id))


def patients_csv(pool: Any, incident_id: str) -> str:
    """GET …/patients.csv: one row per affected patient."""
    return report.patients_csv(get_report(pool, incident_id))


def notify(
    pool: Any, store: EventStore, incident_id: str, principal: Mapping[str, Any]
) -> dict[str, Any]:
    """POST …/notify: the investigator confirms; one Art. 34 request per affected patient."""
    try:
        with pool.connection() as conn:
            return incidents.request_notices(
                conn, store, parse_uuid(incident_id, "incident id"), _who(principal)
            )
    except incidents.IncidentError as error:
        raise _refusal(error) from None


def regulator_notice(
    pool: Any, store: EventStore, incident_id: str, principal: Mapping[str, Any]
) -> dict[str, Any]:
    """POST …/regulator-notice: the Art. 33 notice is ready; its time against the deadline."""
    try:
        with pool.connection() as conn:
            return incidents.regulator_notice_prepared(
                conn, store, parse_uuid(incident_id, "incident id"), _who(principal)
            )
    except incidents.IncidentError as error:
        raise _refusal(error) from None
