"""Booking's HTTP routes as plain functions of (ctx, request, principal) -> Response."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.booking import commands, directory, fhir, reads, views
from services.booking.api import JSON, ApiError, Request, Response, load_json, path_uuid
from services.booking.commands import Denied
from services.booking.context import Ctx
from services.booking.domain import slice_interval
from services.booking.fhir_input import (
    decode_cursor,
    encode_cursor,
    parse_appointment_search,
    parse_new_appointment,
    parse_slot_search,
    parse_status_patch,
)
from services.booking.reach import Principal, may_see_slots, slot_agendas
from services.common.logging import bind_context

RouteFn = Callable[[Ctx, Request, Principal], Response]
FHIR_IN = ("application/fhir+json", "application/json")
PATCH_IN = ("application/json-patch+json",)


def _served(resource: dict[str, Any], access_id: Any, status: int = 200) -> Response:
    headers = {"X-Carnet-Access-Id": str(access_id), "Cache-Control": "no-store"}
    if "meta" in resource and "versionId" in resource["meta"]:
        headers["ETag"] = f'W/"{resource["meta"]["versionId"]}"'
    return Response(status, resource, headers)


def read_appointment(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Appointment/{id}: recorded before it is sent."""
    info = req.info()
    resource, access_id = reads.read_one(ctx, p, path_uuid(req, "appointment_id"), info)
    return _served(resource, access_id)


def _page_url(req: Request, cursor: str | None) -> str:
    kept = [(k, v) for k, v in req.params() if k != "_cursor"]
    if cursor:
        kept.append(("_cursor", cursor))
    return f"{req.base_url}{req.path}" + (f"?{urlencode(kept)}" if kept else "")


def search_appointments(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Appointment?...: a searchset page with a next link, recorded first."""
    info = req.info()
    query = parse_appointment_search(req.params())
    resources, next_cursor, access_id = reads.search(ctx, p, query, info)
    next_url = _page_url(req, next_cursor) if next_cursor else None
    bundle = fhir.searchset(
        f"{req.base_url}/fhir", resources, _page_url(req, query.cursor), next_url
    )
    return Response(
        200, bundle, {"X-Carnet-Access-Id": str(access_id), "Cache-Control": "no-store"}
    )


def _minimal(ctx: Ctx, req: Request, p: Principal, appointment_id: Any) -> bool:
    """Answer a write without the appointment: asked for (FHIR's Prefer: return=minimal), or
    the caller may write this agenda but not read it (appointment:write alone)."""
    if "return=minimal" in req.headers.get("Prefer", ""):
        return True
    return not reads.readable(ctx, p, appointment_id)


def book(ctx: Ctx, req: Request, p: Principal) -> Response:
    """POST /fhir/Appointment: book a free slot; 201 with the appointment (recorded)."""
    info = req.info()
    new = parse_new_appointment(load_json(req, *FHIR_IN))
    try:
        appointment_id = commands.book(ctx, p, new)
    except Denied as error:
        reads.deny(ctx, p, info, "create", error)
        raise
    location = f"{req.base_url}/fhir/Appointment/{appointment_id}"
    if _minimal(ctx, req, p, appointment_id):
        # Only the new id goes back, so there is no read to record.
        return Response(201, None, {"Location": location, "ETag": 'W/"1"'})
    resource, access_id = reads.read_one(ctx, p, appointment_id, info, "create")
    response = _served(resource, access_id, 201)
    response.headers["Location"] = location
    return response


def patch_appointment(ctx: Ctx, req: Request, p: Principal) -> Response:
    """PATCH /fhir/Appointment/{id}: JSON Patch on /status or /slot/0/reference."""
    info = req.info()
    appointment_id = path_uuid(req, "appointment_id")
    wanted = parse_status_patch(load_json(req, *PATCH_IN))
    try:
        commands.change(ctx, p, appointment_id, wanted)
    except Denied as error:
        reads.deny(ctx, p, info, "update", error)
        raise
    if _minimal(ctx, req, p, appointment_id):
        return Response(200, None, {})
    resource, access_id = reads.read_one(ctx, p, appointment_id, info, "update")
    return _served(resource, access_id)


def search_slots(ctx: Ctx, req: Request, p: Principal) -> Response:
    """GET /fhir/Slot?...: free slots (no patient data) of practitioners within reach."""
    info = req.info()
    q = parse_slot_search(req.params())
    asked = list(q.practitioner_ids)
    for practitioner_id in asked:
        if not may_see_slots(p, practitioner_id):
            error = Denied("no read or write grant on this practitioner's agenda", practitioner_id)
            reads.deny(ctx, p, info, "search", error)
            raise error
    agendas = slot_agendas(p)
    scope: list[Any] | None = asked or (None if agendas is None else sorted(agendas))
    limit = min(q.count, ctx.settings.max_page)
    after = decode_cursor(q.cursor) if q.cursor else None
    with ctx.pool.connection() as conn:
        rows = views.search_slots(
            conn, scope, q.start_from, q.start_to, q.free_only, after, limit + 1
        )
        cards = directory.practitioners(conn, (r.practitioner_id for r in rows))
    page = rows[:limit]
    resources = [fhir.slot_resource(r, cards.get(r.practitioner_id)) for r in page]
    cursor = encode_cursor(page[-1].start, page[-1].slot_id) if len(rows) > limit else None
    bundle = fhir.searchset(
        f"{req.base_url}/fhir",
        resources,
        _page_url(req, q.cursor),
        _page_url(req, cursor) if cursor else None,
    )
    return Response(200, bundle, {"Cache-Control": "no-store"})


class _Interval(Schema):
    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)


class OpenSlotsBody(Schema):
    """Either explicit slots, or one interval cut into slots of duration_minutes."""

    service_type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    slots = fields.List(fields.Nested(_Interval), validate=validate.Length(min=1, max=500))
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()
    duration_minutes = fields.Integer(validate=validate.Range(min=5, max=480))


def _intervals(body: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    if "slots" in body:
        if {"start", "end", "duration_minutes"} & body.keys():
            raise ApiError(400, "invalid", "send either slots or start/end/duration_minutes")
        return [(s["start"], s["end"]) for s in body["slots"]]
    if not {"start", "end", "duration_minutes"} <= body.keys():
        raise ApiError(400, "invalid", "send slots, or start, end and duration_minutes")
    return slice_interval(body["start"], body["end"], body["duration_minutes"])


def open_slots(ctx: Ctx, req: Request, p: Principal) -> Response:
    """POST /v1/practitioners/{id}/slots: open bookable slots on an agenda."""
    info = req.info()
    practitioner_id = path_uuid(req, "practitioner_id")
    data = load_json(req, JSON)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid", "expected a JSON object")
    try:
        body = OpenSlotsBody().load(data, unknown=RAISE)
    except ValidationError as error:
        raise ApiError(400, "invalid", str(error.messages)) from None
    try:
        opened = commands.open_slots(
            ctx, p, practitioner_id, body["service_type"], _intervals(body)
        )
    except Denied as error:
        reads.deny(ctx, p, info, "create", error)
        raise
    slots = [
        {"slot_id": str(s.slot_id), "start": s.start.isoformat(), "end": s.end.isoformat()}
        for s in opened
    ]
    return Response(201, {"practitioner_id": str(practitioner_id), "slots": slots}, {}, JSON)


class _EraseBody(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


def destroy_medical_key(ctx: Ctx, req: Request, p: Principal) -> Response:
    """DELETE /v1/patients/{id}/medical-key: crypto-shredding of the patient's medical fields."""
    info = req.info()
    patient_id = path_uuid(req, "patient_id")
    data = load_json(req, JSON)
    try:
        body = _EraseBody().load(data if isinstance(data, dict) else {}, unknown=RAISE)
    except ValidationError as error:
        raise ApiError(400, "invalid", str(error.messages)) from None
    bind_context(patient_id=str(patient_id))
    try:
        key_id = commands.destroy_medical_key(ctx, p, patient_id, body["reason"])
    except Denied as error:
        reads.deny(ctx, p, info, "update", error)
        raise
    return Response(
        200, {"patient_id": str(patient_id), "key_destroyed": key_id is not None}, {}, JSON
    )
