"""Audit's HTTP routes: investigators' traces, incidents, the FHIR AuditEvent export, verify.

Every route is for staff investigators and admins, authenticated by identity's tokens like
every other service's (`AuditSite`); each answer logs `audit.trace_served` (who read a trace),
and each refused token or role is recorded (refusals.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.audit import fhir_export, handlers, refusals, schemas, trace
from services.audit.canonical import format_timestamp
from services.audit.incident_routes import (
    incident_markdown,
    incident_notify,
    incident_patients,
    incident_regulator_notice,
    incident_report,
    open_incident,
)
from services.common.errors import DomainError, Invalid, NotFound
from services.common.eventstore.store import EventStore
from services.common.http.body import parse_instant, parse_uuid, single
from services.common.http.edge import Site
from services.common.http.openapi import fhir_resource
from services.common.http.request import FHIR_JSON, Request, Response
from services.common.http.routes import INSTANT, UUID_SCHEMA, Api, Param, Route
from services.common.logging import get_logger

log = get_logger(__name__)
INVESTIGATOR_ROLES = frozenset({"investigator", "admin"})
DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000
MAX_BODY = 16 * 1024
SELECTORS = {"principal": "principal_id", "connector": "connector_id", "patient": "patient_id"}
Principal = Mapping[str, Any]
BUNDLE = fhir_resource("Bundle", type={"const": "searchset"})


@dataclass(frozen=True)
class Ctx:
    """What audit's routes need: the pool, the store, and the full verify."""

    pool: Any
    store: EventStore
    verify: Callable[[], Any]
    report_wait_s: float = 30.0  # how long `?wait=true` holds a report for the ledger


class AuditSite(Site):
    """The edge's view of audit: identity's principals, staff investigators and admins only."""

    max_body = MAX_BODY

    def __init__(self, ctx: Ctx, auth: Callable[[str], dict[str, Any]]) -> None:
        self.ctx, self.auth = ctx, auth

    def context(self) -> Ctx:
        """The same Ctx for the whole request."""
        return self.ctx

    def authenticate(self, ctx: Ctx, req: Request) -> Principal:
        """Investigators and admins (staff) only: a trace shows who read what, from where."""
        token = req.bearer_required()
        principal = self.auth(token)
        if principal.get("kind") != "staff" or principal.get("role") not in INVESTIGATOR_ROLES:
            raise refusals.NotInvestigator(
                "only staff investigators and admins may trace", principal
            )
        return principal

    def refused(
        self, ctx: Ctx, req: Request, principal: Principal | None, route: Any, error: DomainError
    ) -> None:
        """A refused token or role is evidence (refusals.py): recorded before the answer."""
        refusals.record(ctx.store, req, route.name, error, principal)

    def served(self, req: Request, principal: Principal, route: Any) -> None:
        """Who read which trace: investigators are accountable too."""
        log.info(
            "audit.trace_served",
            endpoint=route.name,
            principal_id=str(principal.get("id")),
            role=principal.get("role"),
        )


def verify(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET /v1/audit/verify: the full verify report, ok or not."""
    return Response(200, ctx.verify().to_dict())


def appointment_history(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET …/history; 404 when the ledger never named the appointment."""
    appointment = parse_uuid(req.path_args["appointment_id"], "appointment id")
    with ctx.pool.connection() as conn:
        items = trace.history(conn, appointment)
    if not items:
        raise NotFound("the ledger names no such appointment")
    body = {"appointment_id": str(appointment), "count": len(items), "items": items}
    return Response(200, body)


def appointment_state(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET …/state?as_of= (default now); 404 when it was not booked by then."""
    appointment = parse_uuid(req.path_args["appointment_id"], "appointment id")
    text = single(req.args(), "as_of")
    as_of = parse_instant(text, "as_of") if text else datetime.now(UTC)
    with ctx.pool.connection() as conn:
        found = trace.state_as_of(conn, appointment, as_of)
    if found is None:
        raise NotFound("no booked appointment with this id at that instant")
    body = {"appointment_id": str(appointment), "as_of": format_timestamp(as_of), "state": found}
    return Response(200, body)


def _limit(text: str | None) -> int:
    try:
        limit = int(text) if text else DEFAULT_LIMIT
    except ValueError:
        raise Invalid("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def access_records(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET /v1/audit/accesses?principal=|connector=|patient=&from=&to=&limit=."""
    args = req.args()
    chosen = {k: v for k in SELECTORS if (v := single(args, k)) is not None}
    if len(chosen) != 1:
        raise Invalid("give exactly one of principal, connector, patient")
    ((key, text),) = chosen.items()
    since, until = (parse_instant(t, k) if (t := single(args, k)) else None for k in ("from", "to"))
    if since and until and until <= since:
        raise Invalid("to must be after from")
    limit = _limit(single(args, "limit"))
    selector = {SELECTORS[key]: parse_uuid(text, key)}
    with ctx.pool.connection() as conn:
        found = trace.accesses(conn, since=since, until=until, limit=limit + 1, **selector)
    period = {"from": format_timestamp(since), "to": format_timestamp(until)}
    return Response(
        200,
        {
            "filter": {key: text, **period},
            "count": min(len(found), limit),
            "truncated": len(found) > limit,
            "accesses": found[:limit],
        },
    )


def audit_events(ctx: Ctx, req: Request, _: Principal) -> Response:
    """GET /fhir/AuditEvent: access records as FHIR R4 AuditEvents (IHE BALP)."""
    with ctx.pool.connection() as conn:
        bundle = fhir_export.search(conn, req.args(), req.base_url)
    return Response(200, bundle, media_type=FHIR_JSON)


def verify_with(config: Mapping[str, Any], signer: Any) -> Callable[[], Any]:
    """The full verify as a route runs it."""
    return lambda: handlers.verify_report(config, signer)


APPOINTMENT, INCIDENT = (
    "/v1/audit/appointments/{appointment_id}",
    "/v1/audit/incidents/{incident_id}",
)
MISSING = {404: "No such incident"}
WAIT = Param(
    "wait",
    "true: hold the answer until the ledger holds the whole window "
    "(up to AUDIT_REPORT_WAIT_SECONDS).",
    {"type": "string", "enum": ["true", "false"]},
)
TEXT = {"type": "string"}
API = Api(
    "audit",
    "The ledger's verify report and the investigators' endpoints.",
    (
        Route("verify", "GET", "/v1/audit/verify", verify, "Verify the ledger, every store too",
              response=schemas.VerifyReport),
        Route("appointment_history", "GET", f"{APPOINTMENT}/history", appointment_history,
              "Every change and access of one appointment, in ledger order",
              response=schemas.History, errors={404: "The ledger never named it"}),
        Route("appointment_state", "GET", f"{APPOINTMENT}/state", appointment_state,
              "The appointment's administrative state at an instant", response=schemas.State,
              params=(Param("as_of", "An instant with its offset; default now.", INSTANT),),
              errors={404: "Not booked at that instant"}),
        Route("access_records", "GET", "/v1/audit/accesses", access_records,
              "Access records of one principal, connector or patient",
              response=schemas.Accesses,
              params=(
                  *(Param(name, "Exactly one of principal, connector, patient.", UUID_SCHEMA)
                    for name in SELECTORS),
                  Param("from", "Inclusive lower bound.", INSTANT),
                  Param("to", "Exclusive upper bound.", INSTANT),
                  Param("limit", f"At most this many records (default {DEFAULT_LIMIT}).",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
              )),
        Route("open_incident", "POST", "/v1/audit/incidents", open_incident,
              "Open an incident over a set of subjects (connectors, principals, addresses, "
              "vendors) and a window", status=201, request=schemas.IncidentIn,
              response=schemas.IncidentOpened, params=(WAIT,),
              headers={"Retry-After": "When `report` is null: seconds before asking again",
                       "Location": "When `report` is null: the report's address"},
              errors={404: "An unknown connector or principal, or a vendor without connector"}),
        Route("incident_report", "GET", INCIDENT, incident_report,
              "The report, recomputed from the ledger", response=schemas.IncidentReport,
              params=(WAIT,), pending=schemas.ReportPending, errors=MISSING),
        Route("incident_markdown", "GET", f"{INCIDENT}/report.md", incident_markdown,
              "The report for people", response=TEXT, produces="text/markdown",
              params=(WAIT,), pending=schemas.ReportPending, errors=MISSING),
        Route("incident_patients", "GET", f"{INCIDENT}/patients.csv", incident_patients,
              "The affected patients, one row each", response=TEXT, produces="text/csv",
              params=(WAIT,), pending=schemas.ReportPending, errors=MISSING),
        Route("incident_notify", "POST", f"{INCIDENT}/notify", incident_notify,
              "Confirm: one Art. 34 notice request per affected patient, once",
              response=schemas.NoticesRequested,
              errors={**MISSING, 409: "Notices were already requested",
                      503: "The ledger does not hold the whole window yet: retry"}),
        Route("incident_regulator_notice", "POST", f"{INCIDENT}/regulator-notice",
              incident_regulator_notice, "Record that the Art. 33 notice is ready",
              response=schemas.RegulatorNotice, errors={**MISSING, 409: "Already recorded"}),
        Route("audit_events", "GET", "/fhir/AuditEvent", audit_events,
              "Access records as FHIR R4 AuditEvents (IHE BALP)", style="fhir",
              response=BUNDLE, produces=FHIR_JSON,
              params=(
                  Param("entity", "Appointment/<uuid> or Patient/<uuid>."),
                  Param("agent", "A principal or connector id.", UUID_SCHEMA),
                  Param("date", "ge/gt/le/lt + an instant with its offset."),
                  Param("_count", f"Page size; above {fhir_export.MAX_COUNT} is capped to "
                        f"{fhir_export.MAX_COUNT}.", {"type": "integer", "minimum": 1}),
                  Param("_cursor", "Opaque; copy it from `next`."),
              )),
    ),
)  # fmt: skip
