"""Search parameters and keyset cursors, parsed strictly: an unknown filter is refused, not dropped.

FHIR says repeated parameters AND and commas OR; an appointment has one practitioner, so both
forms of `practitioner` (and of `status`) are read as a union here, as the route table documents.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.booking.fhir import FhirInputError, instant, reference_id
from services.booking.model import STATUSES
from services.common.instants import in_utc, moved

MAX_PAGE, DEFAULT_PAGE = 100, 20
SLOT_STATUSES = ("free", "busy")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(?P<tz>Z|[+-]\d{2}:\d{2})?"
)
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,400}")
_TICK = timedelta(microseconds=1)  # the store's precision: "> t" is ">= t + 1µs"


@dataclass(frozen=True)
class AppointmentQuery:
    """An Appointment search: date_from inclusive, date_to exclusive, both on `start`;
    updated_from inclusive, updated_to exclusive, on the last update (`_lastUpdated`)."""

    practitioner_ids: tuple[UUID, ...]
    patient_id: UUID | None
    date_from: datetime | None
    date_to: datetime | None
    statuses: tuple[str, ...]
    count: int
    cursor: str | None
    updated_from: datetime | None = None
    updated_to: datetime | None = None


@dataclass(frozen=True)
class SlotQuery:
    """A Slot search: start_from inclusive, start_to exclusive; free slots unless asked."""

    practitioner_ids: tuple[UUID, ...]
    start_from: datetime | None
    start_to: datetime | None
    statuses: tuple[str, ...]
    count: int
    cursor: str | None

    @property
    def free_only(self) -> bool:
        """True unless busy slots were asked for (the read model filters on this flag)."""
        return "busy" not in self.statuses


def encode_cursor(start: datetime, appointment_id: UUID) -> str:
    """A keyset position (start, id) as opaque URL-safe text; it locates, it does not authorise."""
    raw = json.dumps({"s": instant(start), "i": str(appointment_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, UUID]:
    """The position an encode_cursor text names; anything else is the client's error."""
    try:
        if not _CURSOR.fullmatch(text):
            raise ValueError("alphabet")
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        start = datetime.fromisoformat(data["s"])
        if start.tzinfo is None or set(data) != {"s", "i"}:
            raise ValueError("shape")
        return start, UUID(data["i"])
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        raise FhirInputError("value", "_cursor is not a cursor this server issued") from None


def _range(name: str, text: str) -> tuple[datetime, datetime | None]:
    """[lo, hi) a FHIR date or dateTime covers, in UTC; a date is the whole UTC day, no offset
    refused; hi is None when it falls past the calendar's end (an open bound)."""
    if _DATE.fullmatch(text):
        try:
            lo = datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            raise FhirInputError("value", f"{name}: not a valid date") from None
        return lo, moved(lo, timedelta(days=1))
    # An unencoded "+" in a query string arrives as a space: read "10:00:00 01:00" as "+01:00".
    text = re.sub(r" (\d{2}:\d{2})$", r"+\1", text)
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise FhirInputError("value", f"{name}: expected YYYY-MM-DD or an ISO 8601 dateTime")
    if match["tz"] is None:
        raise FhirInputError("value", f"{name}: a time needs Z or an offset (ambiguous)")
    try:
        lo = in_utc(datetime.fromisoformat(text), name, code="value")
    except ValueError:
        raise FhirInputError("value", f"{name}: not a valid dateTime") from None
    return lo, moved(lo, _TICK)


def _bounds(name: str, values: list[str]) -> tuple[datetime | None, datetime | None]:
    """Prefixed date values (ge, gt, le, lt, eq) folded into one [from, to)."""
    lower: datetime | None = None
    upper: datetime | None = None
    for raw in values:
        prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        if prefix not in ("eq", "ge", "gt", "le", "lt"):
            raise FhirInputError("not-supported", f"{name}: prefix {prefix[:2]!r} not supported")
        lo, hi = _range(name, text)
        if prefix == "gt" and hi is None:
            raise FhirInputError("value", f"{name}: nothing is after the calendar's last instant")
        new_lower = {"ge": lo, "gt": hi, "eq": lo}.get(prefix)
        new_upper = {"lt": lo, "le": hi, "eq": hi}.get(prefix)
        if (new_lower is not None and lower is not None) or (
            new_upper is not None and upper is not None
        ):
            raise FhirInputError("value", f"{name}: a bound is given twice")
        lower = lower if new_lower is None else new_lower
        upper = upper if new_upper is None else new_upper
    if lower is not None and upper is not None and lower >= upper:
        raise FhirInputError("value", f"{name}: the range is empty")
    return lower, upper


FORMAT = "_format"


def _grouped(params: list[tuple[str, str]], allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """Parameters by name; an unknown one is refused rather than dropped with its filter."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        if name == FORMAT:
            continue  # a result format, not a filter: the edge answered it (http/negotiate.py)
        if name not in allowed:
            raise FhirInputError(
                "not-supported",
                f"search parameter {name[:60]!r} is not supported; use {', '.join(allowed)}",
            )
        if not value:
            raise FhirInputError("value", f"search parameter {name} is empty")
        grouped.setdefault(name, []).append(value)
    return grouped


def _single(grouped: dict[str, list[str]], name: str) -> str | None:
    """A parameter that may appear at most once."""
    values = grouped.get(name, [])
    if len(values) > 1:
        raise FhirInputError("value", f"{name} may be given only once")
    return values[0] if values else None


def _codes(grouped: dict[str, list[str]], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Repeated or comma-separated codes, each known, in first-seen order."""
    codes = [c for v in grouped.get(name, []) for c in v.split(",")]
    if any(c not in allowed for c in codes):
        raise FhirInputError("value", f"{name} must be among {', '.join(allowed)}")
    return tuple(dict.fromkeys(codes))


def _id(value: str, name: str, resource: str) -> UUID:
    """A search id as "<resource>/<uuid>" or a bare uuid, as FHIR reference parameters allow."""
    prefix = f"{resource}/" if value.startswith(f"{resource}/") else ""
    return reference_id(value, name, prefix)


def _practitioners(grouped: dict[str, list[str]]) -> tuple[UUID, ...]:
    """Repeated or comma-separated practitioners, deduplicated in first-seen order."""
    ids = [
        _id(v, "practitioner", "Practitioner")
        for value in grouped.get("practitioner", [])
        for v in value.split(",")
    ]
    return tuple(dict.fromkeys(ids))


def _page(grouped: dict[str, list[str]]) -> tuple[int, str | None]:
    """_count (capped at MAX_PAGE, as FHIR lets a server do) and a checked _cursor."""
    raw = _single(grouped, "_count")
    if raw is not None and not re.fullmatch(r"\d{1,18}", raw):
        raise FhirInputError("value", "_count must be a positive integer")
    count = DEFAULT_PAGE if raw is None else int(raw)
    if count < 1:
        raise FhirInputError("value", "_count must be a positive integer")
    cursor = _single(grouped, "_cursor")
    if cursor is not None:
        decode_cursor(cursor)  # refuse a bad cursor now, not deep in the query
    return min(count, MAX_PAGE), cursor


APPOINTMENT_PARAMS = (
    "practitioner", "patient", "date", "status", "_lastUpdated", "_count", "_cursor"
)  # fmt: skip


def parse_appointment_search(params: list[tuple[str, str]]) -> AppointmentQuery:
    """GET /fhir/Appointment parameters; `date` bounds the start time, `_lastUpdated` the last
    change (a partner's delta sync: `_lastUpdated=gt<its last sync>`)."""
    grouped = _grouped(params, APPOINTMENT_PARAMS)
    patient = _single(grouped, "patient")
    date_from, date_to = _bounds("date", grouped.get("date", []))
    updated_from, updated_to = _bounds("_lastUpdated", grouped.get("_lastUpdated", []))
    count, cursor = _page(grouped)
    return AppointmentQuery(
        practitioner_ids=_practitioners(grouped),
        patient_id=None if patient is None else _id(patient, "patient", "Patient"),
        date_from=date_from,
        date_to=date_to,
        statuses=_codes(grouped, "status", STATUSES),
        count=count,
        cursor=cursor,
        updated_from=updated_from,
        updated_to=updated_to,
    )


def _slot_statuses(grouped: dict[str, list[str]]) -> tuple[str, ...]:
    """Free by default, or free and busy: the slots view filters on "free only" or nothing."""
    statuses = _codes(grouped, "status", SLOT_STATUSES) or ("free",)
    if "free" not in statuses:
        raise FhirInputError("not-supported", "status=busy alone is not supported; use free,busy")
    return statuses


def parse_slot_search(params: list[tuple[str, str]]) -> SlotQuery:
    """GET /fhir/Slot parameters; `practitioner` is this server's own, `start` bounds the start."""
    grouped = _grouped(params, ("practitioner", "start", "status", "_count", "_cursor"))
    start_from, start_to = _bounds("start", grouped.get("start", []))
    count, cursor = _page(grouped)
    return SlotQuery(
        practitioner_ids=_practitioners(grouped),
        start_from=start_from,
        start_to=start_to,
        statuses=_slot_statuses(grouped),
        count=count,
        cursor=cursor,
    )
