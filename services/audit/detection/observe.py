"""What one consumed event tells detection, pure (no database, no clock read).

The event time is the producer's `occurred_at`, so that a consumer that lags, or a replay,
measures the same windows as a live one; only an event without it falls back to `now`.
Access records and sign-ins are observations of a subject; booking's appointment events and
identity's grants, vendors and trust are reference facts the rules weigh them against.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

CHANGES = ("AppointmentBooked", "AppointmentRescheduled", "AppointmentCancelled",
           "AppointmentStatusChanged")  # fmt: skip
IDENTITY_FACTS = ("ConnectorRegistered", "ConnectorAuthorized", "ConnectorAuthorizationRevoked",
                  "PrincipalTrusted")  # fmt: skip
SIGN_INS = ("TokenIssued", "AuthenticationFailed")
AUDIT_REFUSALS = ("AuditAccessRefused",)
WATCHED = ("AppointmentsAccessed", *AUDIT_REFUSALS, *CHANGES, *SIGN_INS, *IDENTITY_FACTS)
UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class DetectedEvent(Protocol):
    """What the engine needs of a ConsumedEvent (payload loaded at the latest version)."""

    event_id: UUID
    event_type: str
    occurred_at: str
    correlation_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """An appointment read or aimed at, with its patient and practitioner when known."""

    appointment_id: UUID
    patient_id: UUID | None = None
    practitioner_id: UUID | None = None


@dataclass(frozen=True)
class Access:
    """An access record: who, from where, what was served or refused and why."""

    at: datetime
    access_id: UUID
    principal_kind: str
    principal_id: UUID | None  # None: a refused token identity could not name
    connector_id: UUID | None
    address: str
    agent: str | None
    fingerprint: str | None
    denied: bool
    denial_code: str | None
    returned: int
    operation: str = "read"  # read, search, export; create and update echo a write back
    entries: tuple[Entry, ...] = ()  # served
    targets: tuple[Entry, ...] = ()  # aimed at, when refused
    asked: tuple[UUID, ...] = ()  # practitioners the query named (a refused search)


@dataclass(frozen=True)
class SignIn:
    """A token issued (credentials used from an address) or a failed sign-in."""

    at: datetime
    principal_kind: str
    principal_id: UUID | None  # a failed sign-in names a connector, or nobody
    address: str
    failed: bool


@dataclass(frozen=True)
class Change:
    """An appointment booked or changed: reach, start time and "changed since last read"."""

    at: datetime
    appointment_id: UUID
    practitioner_id: UUID
    patient_id: UUID
    start: datetime | None  # None: the event does not say (a status change)


@dataclass(frozen=True)
class Grant:
    """A connector granted (or no longer granted) a practitioner's agenda."""

    at: datetime
    connector_id: UUID
    practitioner_id: UUID
    granted: bool
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Vendor:
    """Which vendor and registrant a connector belongs to: connectors of one vendor, or
    registered under one contact e-mail, are linked."""

    connector_id: UUID
    vendor: str
    registrant: str | None = None  # registrant(contact_email)


def registrant(contact_email: str) -> str:
    """A connector's registration contact as a domain-separated SHA-256: equal for one e-mail
    (any case), and not the address itself in detection's working state. Not a secret: an
    e-mail can be guessed and hashed (the ledger holds the event, the address with it)."""
    text = contact_email.strip().lower().encode("utf-8")
    return hashlib.sha256(b"carnet:registrant:" + text).hexdigest()[:32]


@dataclass(frozen=True)
class Trust:
    """An operator vouches for a principal until `until`: findings, but review only."""

    principal_id: UUID
    until: datetime


Observation = Access | SignIn | Change | Grant | Vendor | Trust


def event_time(occurred_at: str | None, now: datetime) -> datetime:
    """The producer's time (aware ISO-8601), else `now`."""
    try:
        value = datetime.fromisoformat((occurred_at or "").replace("Z", "+00:00"))
    except ValueError:
        return now
    return value if value.tzinfo is not None else now


def _id(value: Any) -> UUID | None:
    """Loaded payloads carry UUIDs, test doubles may carry text: one type for the SQL."""
    return None if value is None else UUID(str(value))


def _when(value: Any) -> datetime | None:
    """A loaded datetime, or its ISO text."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def observe(event: DetectedEvent, now: datetime) -> Observation | None:
    """The observation for a watched event type, None for any other."""
    at, data, kind = event_time(event.occurred_at, now), event.payload, event.event_type
    if kind == "AppointmentsAccessed":
        return access(data, at)
    if kind in AUDIT_REFUSALS:
        return audit_refusal(data, at)
    if kind in CHANGES:
        return Change(
            at,
            UUID(str(data["appointment_id"])),
            UUID(str(data["practitioner_id"])),
            UUID(str(data["patient_id"])),
            _when(data.get("start")),
        )
    if kind in SIGN_INS:
        failed = kind == "AuthenticationFailed"
        principal = data.get("connector_id") if failed else data.get("principal_id")
        principal_kind = "connector" if failed else str(data.get("principal_kind") or "connector")
        return SignIn(at, principal_kind, _id(principal), str(data["network_address"]), failed)
    if kind in ("ConnectorAuthorized", "ConnectorAuthorizationRevoked"):
        granted = kind == "ConnectorAuthorized" and "read" in (data.get("operations") or ())
        return Grant(
            at,
            UUID(str(data["connector_id"])),
            UUID(str(data["practitioner_id"])),
            granted,
            _when(data.get("expires_at")),
        )
    if kind == "ConnectorRegistered":
        contact = data.get("contact_email")
        return Vendor(
            UUID(str(data["connector_id"])),
            str(data["vendor"]).strip().lower(),
            registrant(str(contact)) if contact else None,
        )
    if kind == "PrincipalTrusted":
        until = _when(data["until"])
        assert until is not None
        return Trust(UUID(str(data["principal_id"])), until)
    return None


def _entries(rows: Iterable[Mapping[str, Any]]) -> tuple[Entry, ...]:
    """(appointment, patient, practitioner) triples, each appointment once."""
    seen: dict[UUID, Entry] = {}
    for row in rows:
        entry = Entry(
            UUID(str(row["appointment_id"])),
            _id(row.get("patient_id")),
            _id(row.get("practitioner_id")),
        )
        seen.setdefault(entry.appointment_id, entry)
    return tuple(seen.values())


def asked_practitioners(query: str) -> tuple[UUID, ...]:
    """The practitioners a search named (`practitioner=` or `actor=`, references or ids)."""
    text = query.split(" ", 1)[-1]
    qs = urlsplit(text).query if "?" in text else (text if "=" in text else "")
    found = [
        UUID(m)
        for name, value in parse_qsl(qs, keep_blank_values=True)
        if name in ("practitioner", "actor")
        for m in UUID_TEXT.findall(value)
    ]
    return tuple(dict.fromkeys(found))


def access(data: Mapping[str, Any], at: datetime) -> Access:
    """An access record (V3): a success adds what was served, a refusal what it aimed at."""
    denied = data["outcome"] == "denied"
    entries = _entries(data.get("entries") or ())
    if not entries and not denied:  # V1 records named appointments without their entries
        entries = _entries({"appointment_id": a} for a in data.get("appointment_ids") or ())
    return Access(
        at=at,
        access_id=UUID(str(data["access_id"])),
        principal_kind=str(data.get("principal_kind") or "unknown"),
        principal_id=_id(data.get("principal_id")),
        connector_id=_id(data.get("connector_id")),
        address=str(data["network_address"]),
        agent=(data.get("user_agent") or None),
        fingerprint=data.get("token_fingerprint"),
        denied=denied,
        denial_code=data.get("denial_code") if denied else None,
        returned=0 if denied else int(data.get("result_count") or len(entries)),
        operation=str(data.get("operation") or "read"),
        entries=() if denied else entries,
        targets=_entries(data.get("targets") or ()) if denied else (),
        asked=asked_practitioners(str(data.get("query") or "")) if denied else (),
    )


def audit_refusal(data: Mapping[str, Any], at: datetime) -> Access:
    """A refused request at audit's API: a refusal naming no appointment (operation `trace`)."""
    kind = str(data.get("principal_kind") or "unknown")
    principal = _id(data.get("principal_id"))
    return Access(
        at=at,
        access_id=UUID(str(data["access_id"])),
        principal_kind=kind,
        principal_id=principal,
        connector_id=principal if kind == "connector" else None,
        address=str(data["network_address"]),
        agent=(data.get("user_agent") or None),
        fingerprint=data.get("token_fingerprint"),
        denied=True,
        denial_code=str(data["denial_code"]),
        returned=0,
        operation="trace",
    )
