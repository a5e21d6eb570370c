"""Booking's HTTP routes: one small function each, and the table the edge serves and documents.

A handler is (ctx, request, principal) -> Response. Refusals are raised, never answered here:
the shared edge (services/common/http/edge.py) maps them, and `BookingSite.refused` (site.py)
records every attempt it refuses (401, 403, 404, 429) as an access with outcome denied, under
the route's `operation`, before it goes out. Routes that read appointments are `metered` in
the table: a token of the caller's quota is taken before they run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from contracts.booking import ACCESS_PURPOSES
from services.booking import commands, fhir, queries, schemas
from services.booking.context import Ctx
from services.booking.domain.slots import slice_interval
from services.booking.fhir_input import (
    parse_appointment_search,
    parse_new_appointment,
    parse_slot_search,
    parse_status_patch,
)
from services.booking.fhir_search import DEFAULT_PAGE, MAX_PAGE, SLOT_STATUSES
from services.booking.model import STATUSES
from services.booking.reach import Principal
from services.booking.site import PURPOSE_HEADER, asked_minimal, metered, request_info
from services.common.http.body import json_body, json_object, load
from services.common.http.request import FHIR_JSON, JSON, Request, Response
from services.common.http.routes import Api, Param, Route
from services.common.logging import bind_context

FHIR_IN = (FHIR_JSON, JSON)
PATCH_IN = ("application/json-patch+json",)


def _served(resource: dict[str, Any], access_id: Any, status: int = 200) -> Response:
    headers = {"X-Carnet-Access-Id": str(access_id), "Cache-Control": "no-store"}
    if "meta" in resource and "versionId" in resource["meta"]:
        headers["ETag"] = f'W/"{resource["meta"]["versionId"]}"'
    return Response(status, resource, headers, FHIR_JSON)


def _page_url(req: Request, cursor: str | None) -> str:
    kept = [(k, v) for k, v in req.params() if k != "_cursor"]
    if cursor:
        kept.append(("_cursor", cursor))
    return f"{req.base_url}{req.path}" + (f"?{urlencode(kept)}" if kept else "")


def _bundle(
    req: Request,
    resources: list[dict[str, Any]],
    cursor: str | None,
    nxt: str | None,
    searched_at: datetime | None = None,
) -> dict[str, Any]:
    """A searchset page with its self and next links, and when the search began (meta)."""
    return fhir.searchset(
        f"{req.base_url}/fhir",
        resources,
        _page_url(req, cursor),
        _page_url(req, nxt) if nxt else None,
        searched_at=searched_at,
    )


def read_appointment(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Appointment/{id}: recorded before it is sent."""
    info = request_info(req)
    resource, access_id = queries.read_one(ctx, p, req.path_uuid("appointment_id"), info)
    return _served(resource, access_id)


def search_appointments(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Appointment?...: a searchset page with a next link, recorded first."""
    info = request_info(req)
    query = parse_appointment_search(req.params())
    # Taken before the query: a partner's next delta starts from it (docs/booking.md).
    searched_at = ctx.clock()
    resources, next_cursor, access_id = queries.search(ctx, p, query, info)
    headers = {"X-Carnet-Access-Id": str(access_id), "Cache-Control": "no-store"}
    bundle = _bundle(req, resources, query.cursor, next_cursor, searched_at)
    return Response(200, bundle, headers, FHIR_JSON)


def _minimal(ctx: Ctx, req: Request, p: Principal, appointment_id: Any) -> bool:
    """Answer a write without the appointment: asked for (FHIR's Prefer: return=minimal), or
    the caller may write this agenda but not read it (appointment:write alone)."""
    return asked_minimal(req) or not queries.readable(ctx, p, appointment_id)


def book_appointment(ctx: Ctx, req: Request, p: Principal) -> Response:
    """POST /fhir/Appointment: book a free slot; 201 with the appointment (recorded)."""
    info = request_info(req)
    appointment_id = commands.book(ctx, p, parse_new_appointment(json_body(req, *FHIR_IN)))
    location = f"{req.base_url}/fhir/Appointment/{appointment_id}"
    if _minimal(ctx, req, p, appointment_id):
        # Only the new id goes back, so there is no read to record.
        return Response(201, None, {"Location": location, "ETag": 'W/"1"'}, FHIR_JSON)
    resource, access_id = queries.read_one(ctx, p, appointment_id, info, "create")
    response = _served(resource, access_id, 201)
    response.headers["Location"] = location
    return response


def patch_appointment(ctx: Ctx, req: Request, p: Principal) -> Response:
    """PATCH /fhir/Appointment/{id}: JSON Patch on /status or /slot/0/reference."""
    info = request_info(req)
    appointment_id = req.path_uuid("appointment_id")
    commands.change(ctx, p, appointment_id, parse_status_patch(json_body(req, *PATCH_IN)))
    if _minimal(ctx, req, p, appointment_id):
        return Response(200, None, {}, FHIR_JSON)
    resource, access_id = queries.read_one(ctx, p, appointment_id, info, "update")
    return _served(resource, access_id)


def search_slots(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Slot?...: free slots (no patient data) of practitioners within reach."""
    request_info(req)
    query = parse_slot_search(req.params())
    resources, next_cursor = queries.search_slots(ctx, p, query)
    bundle = _bundle(req, resources, query.cursor, next_cursor)
    return Response(200, bundle, {"Cache-Control": "no-store"}, FHIR_JSON)


def open_slots(ctx: Ctx, req: Request, p: Principal) -> Response:
    """POST /v1/practitioners/{id}/slots: explicit slots, or an interval cut into slots."""
    request_info(req)
    practitioner_id = req.path_uuid("practitioner_id")
    data = json_body(req, JSON)
    listed = isinstance(data, dict) and "slots" in data
    body = load(schemas.OpenSlotList if listed else schemas.OpenSlotInterval, data)
    intervals = (
        [(s["start"], s["end"]) for s in body["slots"]]
        if listed
        else slice_interval(body["start"], body["end"], body["duration_minutes"])
    )
    opened = commands.open_slots(ctx, p, practitioner_id, body["service_type"], intervals)
    slots = [
        {"slot_id": str(s.slot_id), "start": s.start.isoformat(), "end": s.end.isoformat()}
        for s in opened
    ]
    return Response(201, {"practitioner_id": str(practitioner_id), "slots": slots})


def destroy_medical_key(ctx: Ctx, req: Request, p: Principal) -> Response:
    """DELETE /v1/patients/{id}/medical-key: crypto-shredding of the patient's medical fields."""
    request_info(req)
    patient_id = req.path_uuid("patient_id")
    body = json_object(req, schemas.EraseMedicalKey)
    bind_context(patient_id=str(patient_id))
    key_id = commands.destroy_medical_key(ctx, p, patient_id, body["reason"])
    return Response(200, {"patient_id": str(patient_id), "key_destroyed": key_id is not None})


PURPOSE = Param(
    PURPOSE_HEADER,
    "Why the data is used; written into the access record.",
    {"type": "string", "enum": list(ACCESS_PURPOSES)},
    "header",
)
DATE = "Start time: ge/gt/le/lt/eq + YYYY-MM-DD (a UTC day) or a dateTime with an offset."
LAST_UPDATED = (
    "Last change of the appointment (meta.lastUpdated), same prefixes and forms as `date`: "
    "a partner's delta sync asks `gt` its last sync's start (docs/booking.md, sync contract)."
)
# Over the caller's read quota, or too many failed attempts from its address (any route).
THROTTLED = {429: "Over the read quota: nothing read; retry after Retry-After seconds"}
PAGING = (
    Param(
        "_count",
        f"Page size; values above {MAX_PAGE} are capped to {MAX_PAGE}.",
        {"type": "integer", "minimum": 1, "default": DEFAULT_PAGE},
    ),
    Param("_cursor", "Opaque; copy it from the `next` link."),
)
PRACTITIONER = Param(
    "practitioner", "Practitioner/<uuid> or <uuid>; repeats and commas are a union."
)
SERVED = {
    "ETag": 'W/"<meta.versionId>"',
    "X-Carnet-Access-Id": "The access record of this response",
}
APPOINTMENT = "/fhir/Appointment/{appointment_id}"
API = Api(
    "booking",
    "FHIR R4 appointments and slots for connectors; every read recorded.",
    (
        Route(
            "read_appointment", "GET", APPOINTMENT, metered(read_appointment),
            "Read one appointment (recorded before it is sent)",
            style="fhir", operation="read", response=schemas.APPOINTMENT, produces=FHIR_JSON,
            params=(PURPOSE,), headers=SERVED, errors={404: "No such appointment", **THROTTLED},
        ),
        Route(
            "search_appointments", "GET", "/fhir/Appointment", metered(search_appointments),
            "Search appointments within the caller's grants (recorded)",
            style="fhir", operation="search", response=schemas.BUNDLE, produces=FHIR_JSON,
            params=(
                PRACTITIONER,
                Param("patient", "Patient/<uuid> or <uuid>"),
                Param("date", DATE),
                Param("_lastUpdated", LAST_UPDATED),
                Param("status", f"Comma-separated among {', '.join(STATUSES)}."),
                *PAGING,
                PURPOSE,
            ),
            headers={"X-Carnet-Access-Id": SERVED["X-Carnet-Access-Id"]}, errors=THROTTLED,
        ),
        Route(
            "book_appointment", "POST", "/fhir/Appointment", metered(book_appointment, True),
            "Book a free slot for a patient",
            style="fhir", operation="create", status=201, request=schemas.APPOINTMENT,
            accepts=FHIR_IN, response=schemas.APPOINTMENT, produces=FHIR_JSON,
            params=(PURPOSE,), headers={**SERVED, "Location": "The new appointment's URL"},
            errors={409: "The slot is taken", 422: "Booking refused", **THROTTLED},
        ),
        Route(
            "patch_appointment", "PATCH", APPOINTMENT, metered(patch_appointment, True),
            "Change the status or move to another slot (JSON Patch)",
            style="fhir", operation="update", request=schemas.JSON_PATCH, accepts=PATCH_IN,
            response=schemas.APPOINTMENT, produces=FHIR_JSON, params=(PURPOSE,), headers=SERVED,
            errors={
                404: "No such appointment",
                409: "Version test failed, or the new slot is taken",
                422: "Status change not allowed from the current status",
                **THROTTLED,
            },
        ),
        Route(
            "search_slots", "GET", "/fhir/Slot", search_slots,
            "Search slots of practitioners within reach (no patient data)",
            style="fhir", operation="search", response=schemas.BUNDLE, produces=FHIR_JSON,
            params=(
                PRACTITIONER,
                Param("start", DATE),
                Param(
                    "status",
                    f"Among {', '.join(SLOT_STATUSES)}.",
                    {"type": "string", "default": "free"},
                ),
                *PAGING,
                PURPOSE,
            ),
            errors=THROTTLED,
        ),
        Route(
            "open_slots", "POST", "/v1/practitioners/{practitioner_id}/slots", open_slots,
            "Open bookable slots on a practitioner's agenda",
            operation="create", status=201,
            request=(schemas.OpenSlotList, schemas.OpenSlotInterval),
            response=schemas.SlotsOpened, params=(PURPOSE,),
            errors={
                404: "No such practitioner",
                409: "Overlaps existing slots",
                422: "Refused by a rule: a slot in the past, too many slots",
                **THROTTLED,
            },
        ),
        Route(
            "destroy_medical_key", "DELETE", "/v1/patients/{patient_id}/medical-key",
            destroy_medical_key,
            "Destroy a patient's medical key: every sealed medical field becomes unreadable",
            operation="update", request=schemas.EraseMedicalKey,
            response=schemas.MedicalKeyDestroyed, params=(PURPOSE,),
            errors={404: "No such patient", 422: "Refused by a rule", **THROTTLED},
        ),
    ),
    components=(schemas.SLOT,),
)  # fmt: skip
