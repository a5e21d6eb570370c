"""Audit's incident routes: open, report (only once the ledger holds the window), notify.

A report rests on the ledger holding every event of its window (completeness.py): until it
does, the report routes answer 202 with the backlog per service and Retry-After, and notices
are refused (503), so nothing short is ever served as final.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from services.audit import completeness, incidents, report_text, schemas
from services.audit.completeness import Completeness
from services.audit.subjects import parse
from services.common.errors import Invalid
from services.common.http.body import json_object, parse_uuid, single
from services.common.http.request import Request, Response

if TYPE_CHECKING:
    from services.audit.routes import Ctx

Principal = Mapping[str, Any]
INCIDENT_AT = "/v1/audit/incidents/"


def _who(principal: Principal) -> UUID:
    return UUID(str(principal["id"]))


def open_incident(ctx: Ctx, req: Request, principal: Principal) -> Response:
    """POST /v1/audit/incidents: open; the report comes right away once the ledger holds the
    whole window (`?wait=true` waits for it), else `report` is null and Retry-After says when."""
    data = json_object(req, schemas.IncidentIn)
    subjects = parse(schemas.subjects_in(data))  # 400 for a malformed one, before any read
    wait = _wait(ctx, req)
    with ctx.pool.connection() as conn:
        incident_id = incidents.open_incident(
            conn,
            ctx.store,
            opened_by=_who(principal),
            title=data["title"],
            subjects=subjects,
            start=data["from_"],
            end=data["to"],
            aware_at=data["aware_at"],
            detection_ids=data.get("detection_ids") or [],
        )
    ready = _settle(ctx, incident_id, wait)
    body: dict[str, Any] = {"incident_id": str(incident_id), "completeness": ready.as_dict()}
    if not ready.complete:
        headers = {
            "Retry-After": str(ready.retry_after_s()),
            "Location": f"{INCIDENT_AT}{incident_id}",
        }
        return Response(201, {**body, "report": None}, headers)
    with ctx.pool.connection() as conn:
        return Response(201, {**body, "report": incidents.build_report(conn, incident_id, ready)})


def _wait(ctx: Ctx, req: Request) -> float:
    """`wait=true` holds the answer up to the configured limit; absent or false does not."""
    text = single(req.args(), "wait")
    if text not in (None, "true", "false"):
        raise Invalid("wait must be true or false")
    return ctx.report_wait_s if text == "true" else 0.0


def _settle(ctx: Ctx, incident_id: UUID, wait_s: float) -> Completeness:
    """The window's completeness, checked again until complete or wait_s has passed; a pooled
    connection only for each check, none held while waiting."""

    def once() -> Completeness:
        with ctx.pool.connection() as conn:
            return incidents.completeness_of(conn, incident_id)

    return completeness.settle(once, wait_s)


def _report(ctx: Ctx, req: Request, render: Callable[[dict[str, Any]], Response]) -> Response:
    """The report, rendered, once the ledger holds its whole window; before that 202, the
    backlog per service and Retry-After: a report is never served as final while short."""
    incident_id = parse_uuid(req.path_args["incident_id"], "incident id")
    ready = _settle(ctx, incident_id, _wait(ctx, req))
    if not ready.complete:
        detail = (
            f"the ledger does not hold {ready.pending} events of the window yet; ask again"
            " after Retry-After, or with ?wait=true"
        )
        body = {"status": "incomplete", "detail": detail, "completeness": ready.as_dict()}
        return Response(202, body, {"Retry-After": str(ready.retry_after_s())})
    with ctx.pool.connection() as conn:
        return render(incidents.build_report(conn, incident_id, ready))


def incident_report(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET /v1/audit/incidents/{id}: the report as JSON, recomputed from the ledger."""
    return _report(ctx, req, lambda built: Response(200, built))


def incident_markdown(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET …/report.md: the same report for people."""
    return _report(
        ctx,
        req,
        lambda built: Response(200, report_text.markdown(built), media_type="text/markdown"),
    )


def incident_patients(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET …/patients.csv: one row per affected patient."""
    return _report(
        ctx,
        req,
        lambda built: Response(200, report_text.patients_csv(built), media_type="text/csv"),
    )


def incident_notify(ctx: Ctx, req: Request, principal: Principal) -> Response:
    """POST …/notify: the investigator confirms; one Art. 34 request per affected patient."""
    incident_id = parse_uuid(req.path_args["incident_id"], "incident id")
    with ctx.pool.connection() as conn:
        body = incidents.request_notices(conn, ctx.store, incident_id, _who(principal))
    return Response(200, body)


def incident_regulator_notice(ctx: Ctx, req: Request, principal: Principal) -> Response:
    """POST …/regulator-notice: the Art. 33 notice is ready; its time against the deadline."""
    incident_id = parse_uuid(req.path_args["incident_id"], "incident id")
    with ctx.pool.connection() as conn:
        body = incidents.regulator_notice_prepared(conn, ctx.store, incident_id, _who(principal))
    return Response(200, body)
