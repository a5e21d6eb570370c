"""Booking's HTTP routes: one small function each, and the table the edge serves and documents.

A handler is (ctx, request, principal) -> Response. Refusals are raised, never answered here:
the shared edge (services/common/http/edge.py) maps them, and `BookingSite.refused` (site.py)
records every attempt it refuses (401, 403, 404, 429) as an access with outcome denied, under
the route's `operation`, before it goes out. Routes that read appointments are `metered` in
the table: a token of the caller's quota is taken before they run.
"""

from __future__ import annotations

from typing import Any

from contracts.booking import ACCESS_PURPOSES
from services.booking import capability, commands, queries, responses, schemas
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
from services.common.http.openapi import fhir_resource
from services.common.http.request import FHIR_JSON, JSON, Request, Response
from services.common.http.routes import Api, Param, Route
from services.common.logging import bind_context

FHIR_IN = (FHIR_JSON, JSON)
PATCH_IN = ("application/json-patch+json",)


def read_appointment(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Appointment/{id}: recorded before it is sent."""
    info = request_info(req)
    resource, access_id = queries.read_one(ctx, p, req.path_uuid("appointment_id"), info)
    served = responses.served(resource, access_id)
    if responses.unchanged(req, served.headers.get("ETag")):
        # Still an access, recorded as one: the answer tells the client its copy is current.
        return Response(304, None, served.headers, FHIR_JSON)
    return served


def search_appointments(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Appointment?...: a searchset page with a next link, recorded first."""
    info = request_info(req)
    query = parse_appointment_search(req.params())
    # Taken before the query: a partner's next delta starts from it (docs/booking.md).
    searched_at = ctx.clock()
    resources, next_cursor, access_id = queries.search(ctx, p, query, info)
    headers = {"X-Carnet-Access-Id": str(access_id), "Cache-Control": "no-store"}
    bundle = responses.bundle(req, resources, query.cursor, next_cursor, searched_at)
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
    response = responses.served(resource, access_id, 201)
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
    return responses.served(resource, access_id)


def search_slots(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Slot?...: free slots (no patient data) of practitioners within reach."""
    request_info(req)
    query = parse_slot_search(req.params())
    resources, next_cursor = queries.search_slots(ctx, p, query)
    bundle = responses.bundle(req, resources, query.cursor, next_cursor)
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


def metadata(ctx: Ctx, req: Request, _: Any) -> Response:
    """GET /fhir/metadata: the CapabilityStatement, from this table (public, as FHIR asks)."""
    doc = capability.statement(API, req.base_url, ctx.settings.token_url)
    return Response(200, doc, {"Cache-Control": "max-age=3600"}, FHIR_JSON)


def smart_configuration(ctx: Ctx, req: Request, _: Any) -> Response:
    """GET /fhir/.well-known/smart-configuration: where and how a backend client gets a token."""
    doc = capability.smart_configuration(ctx.settings.token_url)
    return Response(200, doc, {"Cache-Control": "max-age=3600"}, JSON)


IF_NONE_MATCH = Param(
    "If-None-Match",
    "An ETag the client holds: 304 without a body when it is current.",
    where="header",
)
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
    "Last-Modified": "meta.lastUpdated as an HTTP date",
    "X-Carnet-Access-Id": "The access record of this response",
}
APPOINTMENT = "/fhir/Appointment/{appointment_id}"
CAPABILITY = fhir_resource("CapabilityStatement", kind={"const": "instance"})
API = Api(
    "booking",
    "FHIR R4 appointments and slots for connectors; every read recorded.",
    (
        Route(
            "fhir_metadata", "GET", "/fhir/metadata", metadata,
            "The CapabilityStatement: resources, interactions, search parameters, security",
            style="fhir", auth=False, response=CAPABILITY, produces=FHIR_JSON,
        ),
        Route(
            "smart_configuration", "GET", "/fhir/.well-known/smart-configuration",
            smart_configuration, "SMART configuration: the token endpoint and its scopes",
            auth=False, response={"type": "object"},
        ),
        Route(
            "read_appointment", "GET", APPOINTMENT, metered(read_appointment),
            "Read one appointment (recorded before it is sent)",
            style="fhir", operation="read", response=schemas.APPOINTMENT, produces=FHIR_JSON,
            params=(PURPOSE, IF_NONE_MATCH), headers=SERVED,
            errors={404: "No such appointment", **THROTTLED},
            also={304: "Not modified: the version named in If-None-Match (recorded as a read)"},
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
    components=(schemas.SLOT, CAPABILITY),
)  # fmt: skip
