"""What one consumed event adds to a principal's windows, pure (no database, no clock read).

The event time is the producer's `occurred_at`, so that a consumer that lags, or a replay,
measures the same windows as a live one; only an event without it falls back to `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.audit.detection.rules import is_deep_page, is_reach_denial
from services.audit.detection.settings import DetectionSettings

WATCHED = ("AppointmentsAccessed", "AppointmentBooked", "TokenIssued", "AuthenticationFailed")


class DetectedEvent(Protocol):
    """What the engine needs of a ConsumedEvent (payload loaded at the latest version)."""

    event_id: UUID
    event_type: str
    occurred_at: str
    correlation_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Observation:
    """One event's contribution: to whom it counts, when, and what it adds."""

    kind: str  # "access" | "token" | "auth_failure" | "booking"
    at: datetime
    subject_id: UUID | None  # the principal; None = nothing to count against
    connector_id: UUID | None = None
    address: str | None = None
    authenticated: bool = False  # valid credentials were used from `address`
    access_id: UUID | None = None
    returned: int = 0
    denied: bool = False
    reach_denied: bool = False
    deep_page: bool = False
    patient_ids: tuple[UUID, ...] = ()
    appointment_ids: tuple[UUID, ...] = ()
    practitioner_ids: tuple[UUID, ...] = ()

    @property
    def minute(self) -> datetime:
        """The bucket this event counts in."""
        return self.at.replace(second=0, microsecond=0)


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


def _ids(values: Iterable[Any]) -> tuple[UUID, ...]:
    """Distinct ids in first-seen order."""
    return tuple(dict.fromkeys(UUID(str(v)) for v in values))


def observe(event: DetectedEvent, settings: DetectionSettings, now: datetime) -> Observation | None:
    """The observation for a watched event type, None for any other."""
    at, data = event_time(event.occurred_at, now), event.payload
    if event.event_type == "AppointmentsAccessed":
        return _access(data, at, settings)
    if event.event_type == "AppointmentBooked":
        # Booking activity has no principal to count against: subject_id is None.
        return Observation(
            "booking",
            at,
            None,
            practitioner_ids=_ids([data["practitioner_id"]]),
            patient_ids=_ids([data["patient_id"]]),
        )
    if event.event_type == "TokenIssued":
        return Observation(
            "token",
            at,
            _id(data["principal_id"]),
            connector_id=_id(data.get("connector_id")),
            address=str(data["network_address"]),
            authenticated=True,
        )
    if event.event_type == "AuthenticationFailed":
        # Counted only when the claimed client resolved to a connector (D4 is per connector).
        connector = _id(data.get("connector_id"))
        return Observation(
            "auth_failure",
            at,
            connector,
            connector_id=connector,
            address=str(data["network_address"]),
        )
    return None


def _access(data: Mapping[str, Any], at: datetime, settings: DetectionSettings) -> Observation:
    """An access record: a success adds what was returned, a refusal adds a denial."""
    denied = data["outcome"] == "denied"
    success = not denied
    returned = int(data.get("result_count") or 0) if success else 0
    return Observation(
        "access",
        at,
        _id(data["principal_id"]),
        connector_id=_id(data.get("connector_id")),
        address=str(data["network_address"]),
        authenticated=True,  # booking records a read only for an authenticated principal
        access_id=_id(data["access_id"]),
        returned=returned,
        denied=denied,
        reach_denied=denied and is_reach_denial(data.get("denial_reason")),
        deep_page=success
        and data.get("operation") == "search"
        and is_deep_page(str(data.get("query") or ""), returned, settings.d6_page_size),
        patient_ids=_ids(data.get("patient_ids") or ()) if success else (),
        appointment_ids=_ids(data.get("appointment_ids") or ()) if success else (),
        practitioner_ids=_ids(data.get("practitioner_ids") or ()) if success else (),
    )
