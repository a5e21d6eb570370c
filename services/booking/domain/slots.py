"""Slots: a practitioner's agenda opens them, each slot's own stream says who holds it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid5

from services.booking.domain.decision import Decision, conflict, invalid
from services.booking.model import SlotRow

MAX_SLOTS_PER_OPENING = 500
_SCHEDULES = UUID("2f1c8f56-5d0e-4b7e-9a43-7f0a3c1d9e21")


def schedule_id_of(practitioner_id: UUID) -> UUID:
    """Each practitioner has one schedule; its id is derived, never stored apart."""
    return uuid5(_SCHEDULES, str(practitioner_id))


def agenda_stream(practitioner_id: UUID) -> str:
    """The stream that serialises a practitioner's slot openings."""
    return f"agenda-{practitioner_id}"


def slot_stream(slot_id: UUID) -> str:
    """The stream whose version guards a slot against double booking."""
    return f"slot-{slot_id}"


@dataclass(frozen=True)
class Slot:
    """A slot as the catalog describes it, plus who holds it, from its own stream."""

    row: SlotRow
    held_by: UUID | None = None
    version: int = 0


def slot_state(row: SlotRow, events: Iterable[tuple[str, dict[str, Any]]]) -> Slot:
    """Fold the slot stream (SlotHeld, SlotReleased) over the catalog row."""
    state = Slot(row)
    for event_type, data in events:
        held = UUID(data["appointment_id"]) if event_type == "SlotHeld" else None
        state = replace(state, held_by=held, version=state.version + 1)
    return state


def slice_interval(start: datetime, end: datetime, minutes: int) -> list[tuple[datetime, datetime]]:
    """Cut [start, end) into back-to-back slots of `minutes`; a remainder is dropped."""
    if minutes < 5 or minutes > 480:
        raise invalid("duration_minutes must be between 5 and 480")
    step = timedelta(minutes=minutes)
    # Count first: a centuries-long interval must not build millions of slots (or step past
    # datetime.max) before the per-opening cap refuses it.
    count = max(0, (end - start) // step)
    if count > MAX_SLOTS_PER_OPENING:
        raise invalid(f"at most {MAX_SLOTS_PER_OPENING} slots per opening")
    return [(start + i * step, start + (i + 1) * step) for i in range(count)]


def open_slots(
    practitioner_id: UUID,
    service_type: str,
    intervals: Sequence[tuple[datetime, datetime]],
    existing: Sequence[SlotRow],
    slot_ids: Sequence[UUID],
    agenda_version: int,
    now: datetime,
) -> Decision:
    """SlotsOpened, unless a slot is empty, in the past, overlapping, or there are too many."""
    if not intervals:
        raise invalid("no slot to open: the interval is shorter than one slot")
    if len(intervals) > MAX_SLOTS_PER_OPENING:
        raise invalid(f"at most {MAX_SLOTS_PER_OPENING} slots per opening")
    ordered = sorted(intervals)
    for start, end in ordered:
        if start.tzinfo is None or end.tzinfo is None:
            raise invalid("slot times need a UTC offset")
        if end <= start:
            raise invalid("a slot must end after it starts")
        if start < now:
            raise invalid("a slot cannot start in the past")
    for (_, end_a), (start_b, _) in pairwise(ordered):
        if start_b < end_a:
            raise invalid("the slots overlap each other")
    for start, end in ordered:
        for row in existing:
            if start < row.end and row.start < end:
                raise conflict(f"overlaps the existing slot {row.slot_id}")
    payload = {
        "schedule_id": schedule_id_of(practitioner_id),
        "practitioner_id": practitioner_id,
        "service_type": service_type,
        "slots": [
            {"slot_id": sid, "start": s, "end": e}
            for sid, (s, e) in zip(slot_ids, ordered, strict=True)
        ],
    }
    return Decision([(agenda_stream(practitioner_id), agenda_version, [("SlotsOpened", payload)])])
