"""Booking's read use cases: decide reach, build the resources, record the access, then serve.

The order is the point (DESIGN.md principle 2): resources are built, the classes they contain
are read off them, the access record naming exactly those appointments, patients and classes
is committed, and only then does anything go back to the caller. A refused read raises
Denied (naming the appointment it aimed at) or NotFound; whoever answers the caller records
it first (evidence.py): the HTTP edge through `BookingSite.refused`, `read_for_service` for
RPC callers. The read's quota token is taken before (routes.py); what a search returned
beyond one appointment is charged before its record is committed (quota.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from services.booking import directory, evidence, fhir, quota, readmodels
from services.booking.access import NOTHING, RequestInfo, Served
from services.booking.classes import MEDICAL, classes_present
from services.booking.commands import Denied
from services.booking.context import Ctx
from services.booking.crypto import CryptoError, KeyDestroyed
from services.booking.domain.decision import not_found
from services.booking.fhir_input import (
    AppointmentQuery,
    SlotQuery,
    decode_cursor,
    encode_cursor,
)
from services.booking.model import AppointmentRow, MedicalText
from services.booking.reach import (
    Principal,
    disclose,
    may_see_slots,
    readable_practitioners,
    slot_agendas,
)
from services.common.errors import DomainError
from services.common.logging import get_logger

log = get_logger(__name__)


def _medical(
    ctx: Ctx, rows: Sequence[AppointmentRow], allowed: dict[UUID, frozenset[str]]
) -> dict[UUID, MedicalText]:
    """Open the sealed fields of the rows whose reader holds the medical class."""
    out: dict[UUID, MedicalText] = {}
    by_patient: dict[UUID, list[AppointmentRow]] = {}
    for row in rows:
        if MEDICAL in allowed[row.appointment_id] and (row.reason or row.note):
            by_patient.setdefault(row.patient_id, []).append(row)
    for patient_id, own in by_patient.items():
        try:
            open_blob = ctx.keys.opener(patient_id)
            for row in own:
                out[row.appointment_id] = MedicalText(open_blob(row.reason), open_blob(row.note))
        except KeyDestroyed:
            for row in own:
                out[row.appointment_id] = MedicalText(None, None, unreadable=True)
        except CryptoError:
            log.error("medical.undecryptable", patient_id=str(patient_id))
            for row in own:
                out[row.appointment_id] = MedicalText(None, None, unreadable=True)
    return out


def build(
    ctx: Ctx, p: Principal, rows: Sequence[AppointmentRow]
) -> tuple[list[dict[str, Any]], Served]:
    """The FHIR resources this principal may see of these rows, and what they disclose."""
    allowed = {r.appointment_id: disclose(p, r.practitioner_id, r.patient_id) for r in rows}
    with ctx.pool.connection() as conn:
        patients = directory.patients(conn, (r.patient_id for r in rows))
        practitioners = directory.practitioners(conn, (r.practitioner_id for r in rows))
    medical = _medical(ctx, rows, allowed)
    resources, classes = [], set()
    for row in rows:
        resource = fhir.appointment_resource(
            row,
            patients.get(row.patient_id),
            practitioners.get(row.practitioner_id),
            allowed[row.appointment_id],
            medical.get(row.appointment_id),
        )
        classes |= classes_present(resource)
        resources.append(resource)
    decrypted = any(m.reason is not None or m.note is not None for m in medical.values())
    served = Served(
        tuple(r.appointment_id for r in rows),
        tuple(r.patient_id for r in rows),
        tuple(dict.fromkeys(r.practitioner_id for r in rows)),
        frozenset(classes),
        decrypted,
        tuple((r.appointment_id, r.patient_id, r.practitioner_id) for r in rows),
    )
    return resources, served


def readable(ctx: Ctx, p: Principal, appointment_id: UUID) -> bool:
    """Whether this principal may read the appointment at all (nothing is read or recorded)."""
    with ctx.pool.connection() as conn:
        row = readmodels.appointment(conn, appointment_id)
    return row is not None and bool(disclose(p, row.practitioner_id, row.patient_id))


def read_one(
    ctx: Ctx, p: Principal, appointment_id: UUID, info: RequestInfo, operation: str = "read"
) -> tuple[dict[str, Any], UUID]:
    """One appointment, recorded; Denied (recorded) when outside the principal's reach."""
    with ctx.pool.connection() as conn:
        row = readmodels.appointment(conn, appointment_id)
    if row is None:
        raise not_found("appointment")
    if not disclose(p, row.practitioner_id, row.patient_id):
        target = ((row.appointment_id, row.patient_id, row.practitioner_id),)
        raise Denied("this appointment is outside your reach", row.practitioner_id, targets=target)
    resources, served = build(ctx, p, [row])
    access_id = ctx.recorder.record(p, info, operation, served)
    return resources[0], access_id


def _search_scope(p: Principal, q: AppointmentQuery) -> tuple[list[UUID] | None, UUID | None]:
    """The practitioners and patient a search may cover, or Denied for asking beyond them."""
    if p.kind == "patient":
        if q.patient_id is not None and q.patient_id != p.id:
            raise Denied("a patient may search only their own appointments")
        return (list(q.practitioner_ids) or None), p.id
    reachable = readable_practitioners(p)
    if reachable is None:
        return (list(q.practitioner_ids) or None), q.patient_id
    outside = [x for x in q.practitioner_ids if x not in reachable]
    if outside:
        raise Denied("no read grant on this practitioner's agenda", outside[0])
    return list(q.practitioner_ids or sorted(reachable)), q.patient_id


def search(
    ctx: Ctx, p: Principal, q: AppointmentQuery, info: RequestInfo
) -> tuple[list[dict[str, Any]], str | None, UUID]:
    """One page of appointments within reach, recorded; the cursor of the next page."""
    practitioners, patient_id = _search_scope(p, q)
    limit = min(q.count, ctx.settings.max_page)
    after = decode_cursor(q.cursor) if q.cursor else None
    rows: list[AppointmentRow] = []
    if practitioners is None or practitioners:
        with ctx.pool.connection() as conn:
            rows = readmodels.search_appointments(
                conn,
                practitioners,
                patient_id,
                q.date_from,
                q.date_to,
                q.statuses,
                after,
                limit + 1,
                (q.updated_from, q.updated_to),
            )
    page, more = rows[:limit], len(rows) > limit
    resources, served = build(ctx, p, page) if page else ([], NOTHING)
    # Before the record: a charge that fails leaves nothing recorded or served; a record that
    # fails after it has only over-charged. The bucket is unlogged: no WAL flush (quota.py).
    quota.charge_rest(ctx, p, len(page))
    access_id = ctx.recorder.record(p, info, "search", served)
    last = page[-1] if page else None
    next_cursor = encode_cursor(last.start, last.appointment_id) if more and last else None
    return resources, next_cursor, access_id


def read_for_service(
    ctx: Ctx, p: Principal, appointment_id: UUID, info: RequestInfo
) -> dict[str, Any]:
    """One appointment for another service (RPC), recorded; a refusal recorded too."""
    try:
        resource, _ = read_one(ctx, p, appointment_id, info)
    except DomainError as error:
        evidence.record_refusal(ctx, p, info, "read", error)
        raise
    return resource


def search_slots(ctx: Ctx, p: Principal, q: SlotQuery) -> tuple[list[dict[str, Any]], str | None]:
    """A page of slots (no patient data) of practitioners within reach; the next cursor."""
    asked = list(q.practitioner_ids)
    for practitioner_id in asked:
        if not may_see_slots(p, practitioner_id):
            raise Denied("no read or write grant on this practitioner's agenda", practitioner_id)
    agendas = slot_agendas(p)
    scope: list[Any] | None = asked or (None if agendas is None else sorted(agendas))
    limit = min(q.count, ctx.settings.max_page)
    after = decode_cursor(q.cursor) if q.cursor else None
    with ctx.pool.connection() as conn:
        rows = readmodels.search_slots(
            conn, scope, q.start_from, q.start_to, q.free_only, after, limit + 1
        )
        cards = directory.practitioners(conn, (r.practitioner_id for r in rows))
    page = rows[:limit]
    resources = [fhir.slot_resource(r, cards.get(r.practitioner_id)) for r in page]
    cursor = encode_cursor(page[-1].start, page[-1].slot_id) if len(rows) > limit else None
    return resources, cursor
