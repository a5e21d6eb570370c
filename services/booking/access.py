"""Every read is an event: the access record is committed before any appointment data leaves.

`AccessRecorder.record` appends one AppointmentsAccessed event in a transaction of its own and
returns only once it is committed; any failure raises RecordingFailed and the caller answers
503 with no data (fail closed). Refusals are recorded too (outcome denied, with a denial code
and the appointments aimed at), a refused token without any principal (kind unknown).
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from prometheus_client import Counter

from contracts.booking import ACCESS_OPERATIONS_V2, ACCESS_PURPOSES
from contracts.booking import ACCESS_OUTCOMES as OUTCOMES
from contracts.booking_access import DENIAL_CODES, MAX_TARGETS
from services.booking.reach import Principal
from services.common.errors import Unavailable
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.json_input import storable_text
from services.common.logging import current_ids, get_logger

log = get_logger(__name__)
ACCESS_RECORDS = Counter(
    "carnet_booking_access_records_total",
    "Access records committed before serving, by operation and outcome.",
    ["operation", "outcome"],
)
ACCESS_RECORD_FAILURES = Counter(
    "carnet_booking_access_record_failures_total",
    "Reads refused with 503 because their access record could not be committed.",
)


class RecordingFailed(Unavailable):
    """The access record could not be committed: the read must not be served (503, retry)."""

    def __init__(self, access_id: str) -> None:
        super().__init__("the access could not be recorded, so nothing is served; retry later")
        self.access_id = access_id


@dataclass(frozen=True)
class RequestInfo:
    """Where a read came from and what it asked, as received."""

    network_address: str
    user_agent: str | None
    request_id: str
    query: str
    purpose: str | None = None
    token_fingerprint: str | None = None  # of the bearer token presented, never the token


@dataclass(frozen=True)
class Served:
    """What a response is about to disclose."""

    appointment_ids: tuple[UUID, ...]
    patient_ids: tuple[UUID, ...]
    practitioner_ids: tuple[UUID, ...]
    field_classes: frozenset[str]
    medical_decrypted: bool
    # (appointment, patient, practitioner) per returned appointment.
    entries: tuple[tuple[UUID, UUID, UUID], ...] = ()


NOTHING = Served((), (), (), frozenset(), False)
Entry = tuple[UUID, UUID, UUID]  # (appointment, patient, practitioner)


@dataclass(frozen=True)
class Denial:
    """Why a request was refused (a contract denial code and a sentence) and what it aimed at."""

    code: str
    reason: str
    targets: tuple[Entry, ...] = ()


def _unique(ids: Iterable[UUID]) -> list[str]:
    return [str(i) for i in dict.fromkeys(ids)]


def _entries(entries: Iterable[Entry]) -> list[dict[str, str]]:
    return [
        {"appointment_id": str(a), "patient_id": str(p), "practitioner_id": str(d)}
        for a, p, d in dict.fromkeys(entries)
    ]


VERSION = 3  # AppointmentsAccessed V3; tests check every committed record against it


def _check(payload: dict[str, object]) -> None:
    """What a caller could make wrong; the rest is built here from typed values.

    The full contract (marshmallow) cost 4 ms a record at 50 appointments, more than the read
    itself; the suite validates every record it commits against the contract instead.
    """
    ipaddress.ip_address(str(payload["network_address"]))
    if payload["purpose"] is not None and payload["purpose"] not in ACCESS_PURPOSES:
        raise ValueError("unknown purpose of use")
    if payload["operation"] not in ACCESS_OPERATIONS_V2 or payload["outcome"] not in OUTCOMES:
        raise ValueError("unknown operation or outcome")
    if (payload["outcome"] == "denied") != (payload["denial_code"] in DENIAL_CODES):
        raise ValueError("a refusal needs a known denial code, a success none")


class AccessRecorder:
    """Commits AppointmentsAccessed to booking's store, one stream per record."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def record(
        self,
        principal: Principal | None,
        info: RequestInfo,
        operation: str,
        served: Served,
        denial: Denial | None = None,
    ) -> UUID:
        """Commit the record (or raise RecordingFailed); its id goes in the response headers.

        `principal` None: nobody known (a refused token), recorded as kind unknown; `denial`
        set: a refusal (outcome denied), with its code and the appointments it aimed at.
        """
        access_id = uuid.uuid4()
        outcome = "success" if denial is None else "denied"
        payload = {
            "access_id": str(access_id),
            "principal_kind": principal.kind if principal else "unknown",
            "principal_id": str(principal.id) if principal else None,
            "connector_id": str(principal.connector_id)
            if principal and principal.connector_id
            else None,
            "network_address": info.network_address,
            "user_agent": storable_text(info.user_agent, 500) if info.user_agent else None,
            "request_id": storable_text(info.request_id, 200) or "unknown",
            "operation": operation,
            "query": storable_text(info.query, 2000),
            "purpose": info.purpose,
            "appointment_ids": _unique(served.appointment_ids),
            "patient_ids": _unique(served.patient_ids),
            "practitioner_ids": _unique(served.practitioner_ids),
            "entries": _entries(served.entries),
            "field_classes": sorted(served.field_classes),
            "medical_decrypted": served.medical_decrypted,
            "result_count": len(set(served.appointment_ids)),
            "outcome": outcome,
            "denial_reason": storable_text(denial.reason, 500) if denial else None,
            "token_fingerprint": info.token_fingerprint,
            "denial_code": denial.code if denial else None,
            "targets": _entries(denial.targets[:MAX_TARGETS]) if denial else [],
        }
        try:
            _check(payload)
            event = NewEvent(access_id, "AppointmentsAccessed", VERSION, payload, current_ids())
            self.store.append(f"access-{access_id}", [event], 0)
        except Exception as error:
            ACCESS_RECORD_FAILURES.inc()
            log.error(
                "access.record_failed",
                error_type=type(error).__name__,
                operation=operation,
                access_id=str(access_id),
            )
            raise RecordingFailed(str(access_id)) from error
        ACCESS_RECORDS.labels(operation, outcome).inc()
        # Debug, not info: the record itself is the trail. structlog runs its processors before
        # the level check, so even a filtered line cost 0.2 ms: ask the level first.
        if logging.getLogger(__name__).isEnabledFor(logging.DEBUG):
            log.debug(
                "access.recorded",
                access_id=str(access_id),
                principal_kind=payload["principal_kind"],
                principal_id=payload["principal_id"],
                operation=operation,
                outcome=outcome,
                denial_code=payload["denial_code"],
                result_count=payload["result_count"],
                field_classes=payload["field_classes"],
                medical_decrypted=served.medical_decrypted,
            )
        return access_id
