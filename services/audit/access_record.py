"""One AppointmentsAccessed ledger row as the access index's rows: the projector's function,
which verify and every report also use to derive the index again from the ledger.

Every version is upcast to the latest first (V1 and V2 records still investigate); every field
is checked for its type, and what a record does not say stays NULL, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from contracts.errors import ContractError
from contracts.registry import REGISTRY
from services.common.logging import get_logger

log = get_logger(__name__)

ACCESS_EVENT = "AppointmentsAccessed"
REQUEST_COLUMNS = (
    "seq", "access_id", "principal_kind", "principal_id", "connector_id", "network_address",
    "user_agent", "request_id", "operation", "query", "purpose", "outcome", "denial_reason",
    "field_classes", "medical_decrypted", "result_count", "occurred_at", "denial_code",
    "token_fingerprint",
)  # fmt: skip
# access_entries (what a read returned) and access_targets (what a refused read aimed at).
ENTRY_COLUMNS = (
    "seq", "access_id", "appointment_id", "patient_id", "practitioner_id", "principal_id",
    "connector_id", "occurred_at",
)  # fmt: skip


def _uuid(value: Any) -> UUID | None:
    """A UUID or None: an unreadable id is stored as unknown, never guessed."""
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _payload(row: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The payload upcast to the latest AppointmentsAccessed; (as stored, False) if it cannot be."""
    raw = row["payload"] if isinstance(row["payload"], dict) else {}
    try:
        return REGISTRY.upcast(ACCESS_EVENT, row["schema_version"], raw)[1], True
    except ContractError:
        return dict(raw), False


def _pairs(items: Any) -> dict[UUID, tuple[UUID | None, UUID | None]]:
    """Entries or targets: appointment -> (patient, practitioner), unreadable ids dropped."""
    pairs: dict[UUID, tuple[UUID | None, UUID | None]] = {}
    for item in items if isinstance(items, list) else []:
        appointment = _uuid(item.get("appointment_id")) if isinstance(item, dict) else None
        if appointment is not None:
            pairs[appointment] = (
                _uuid(item.get("patient_id")),
                _uuid(item.get("practitioner_id")),
            )
    return pairs


def _request(data: Mapping[str, Any], seq: int, at: Any) -> dict[str, Any]:
    """The access_requests row of one record, every field checked for its type."""
    classes = data.get("field_classes")
    count = data.get("result_count")
    medical = data.get("medical_decrypted")
    return {
        "seq": seq,
        "access_id": _uuid(data.get("access_id")),
        "principal_kind": _text(data.get("principal_kind")),
        "principal_id": _uuid(data.get("principal_id")),
        "connector_id": _uuid(data.get("connector_id")),
        "network_address": _text(data.get("network_address")),
        "user_agent": _text(data.get("user_agent")),
        "request_id": _text(data.get("request_id")),
        "operation": _text(data.get("operation")),
        "query": _text(data.get("query")),
        "purpose": _text(data.get("purpose")),
        "outcome": _text(data.get("outcome")),
        "denial_reason": _text(data.get("denial_reason")),
        "field_classes": [str(c) for c in classes] if isinstance(classes, list) else [],
        "medical_decrypted": medical if isinstance(medical, bool) else None,
        "result_count": count if isinstance(count, int) and not isinstance(count, bool) else None,
        "occurred_at": at,
        "denial_code": _text(data.get("denial_code")),
        "token_fingerprint": _text(data.get("token_fingerprint")),
    }


Rows = list[tuple[Any, ...]]


def project(row: Mapping[str, Any]) -> tuple[tuple[Any, ...], Rows, Rows]:
    """One ledger row of AppointmentsAccessed as its request row, entry rows and target rows."""
    data, readable = _payload(row)
    seq, at = row["seq"], row["occurred_at"]
    request = _request(data, seq, at)
    # A refused token has no principal (V3, kind unknown): that is what it says, not a gap.
    nobody = request["principal_id"] is None and request["principal_kind"] != "unknown"
    if not readable or request["access_id"] is None or nobody:
        log.warning("access_index.partial_record", seq=seq, schema_version=row["schema_version"])
    entries = _pairs(data.get("entries"))
    # V1 named appointments and patients as two sets: paired only when there is one patient.
    patients = [p for p in (_uuid(x) for x in data.get("patient_ids") or []) if p is not None]
    only_patient = patients[0] if len(patients) == 1 else None
    for appointment in (_uuid(x) for x in data.get("appointment_ids") or []):
        if appointment is not None and appointment not in entries:
            entries[appointment] = (only_patient, None)
    rows = [
        [
            (seq, request["access_id"], appointment, patient, practitioner,
             request["principal_id"], request["connector_id"], at)
            for appointment, (patient, practitioner) in pairs.items()
        ]
        for pairs in (entries, _pairs(data.get("targets")))
    ]  # fmt: skip
    return tuple(request[c] for c in REQUEST_COLUMNS), rows[0], rows[1]
