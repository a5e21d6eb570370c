"""Who may read or change which appointments, and which data classes they may see.

The principal comes from identity's `authenticate` (kind, id, scopes, reach per scope). A
connector reaches the practitioners that granted it a scope; a practitioner their own agenda;
a patient their own appointments; a staff admin administers agendas but never sees medical
fields; a service principal (another Carnet service over RPC) reads administrative fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

from contracts.booking import ACCESS_PURPOSES
from services.booking.classes import ADMINISTRATIVE, MEDICAL, SENSITIVE

READ, WRITE, READ_MEDICAL = "appointment:read", "appointment:write", "appointment:read-medical"
_SERVICES = UUID("0b6f4c1e-3f55-4b8a-8f0e-5d7c2a9e6b10")
ADMIN_CLASSES = frozenset({ADMINISTRATIVE, SENSITIVE})
ALL_CLASSES = frozenset({ADMINISTRATIVE, SENSITIVE, MEDICAL})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, as identity described it."""

    kind: str
    id: UUID
    scopes: frozenset[str] = frozenset()
    reach: Mapping[str, frozenset[UUID]] = field(default_factory=dict)
    role: str | None = None

    @property
    def connector_id(self) -> UUID | None:
        """Access records name the connector separately from the principal."""
        return self.id if self.kind == "connector" else None

    @property
    def is_admin(self) -> bool:
        """Staff admins (and the bootstrap admin)."""
        return self.kind == "staff" and self.role == "admin"


def from_identity(p: Mapping[str, Any]) -> Principal:
    """identity.authenticate's answer as a Principal."""
    reach = {
        scope: frozenset(UUID(x) for x in ids) for scope, ids in (p.get("reach") or {}).items()
    }
    return Principal(
        p["kind"], UUID(p["id"]), frozenset(p.get("scopes") or ()), reach, p.get("role")
    )


RPC_CALLERS = ("identity", "notification", "audit")  # the services that may read over RPC


def rpc_read_request(appointment_id: str, caller: str, purpose: str) -> UUID:
    """Check an RPC read before anything is read or recorded: a known caller, a purpose the
    access record accepts, a UUID. ValueError names what is wrong (never the values)."""
    if caller not in RPC_CALLERS:
        raise ValueError(f"caller must be one of {', '.join(RPC_CALLERS)}")
    if purpose not in ACCESS_PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(ACCESS_PURPOSES)}")
    try:
        return UUID(appointment_id)
    except (TypeError, ValueError, AttributeError):
        raise ValueError("appointment_id must be a UUID") from None


def service_principal(service: str) -> Principal:
    """Another Carnet service reading over RPC: a stable id per service name."""
    return Principal("service", uuid5(_SERVICES, service), frozenset({READ}), {}, None)


def _reaches(p: Principal, scope: str, practitioner_id: UUID) -> bool:
    return scope in p.scopes and practitioner_id in p.reach.get(scope, frozenset())


def readable_practitioners(p: Principal) -> frozenset[UUID] | None:
    """Whose agendas a search may cover: None = any (admin, service), else this set."""
    if p.is_admin or p.kind == "service":
        return None
    if p.kind in ("connector", "practitioner"):
        return p.reach.get(READ, frozenset()) if READ in p.scopes else frozenset()
    return frozenset()


def disclose(p: Principal, practitioner_id: UUID, patient_id: UUID) -> frozenset[str]:
    """The data classes this principal may see of one appointment; empty = may not read it."""
    if p.kind == "patient":
        return ALL_CLASSES if p.id == patient_id else frozenset()
    if p.is_admin or p.kind == "service":
        return ADMIN_CLASSES
    if p.kind in ("connector", "practitioner") and _reaches(p, READ, practitioner_id):
        if _reaches(p, READ_MEDICAL, practitioner_id):
            return ALL_CLASSES
        return ADMIN_CLASSES
    return frozenset()


def may_write(p: Principal, practitioner_id: UUID, patient_id: UUID | None) -> bool:
    """Book, move, cancel or mark an appointment on this agenda (for this patient)."""
    if p.kind == "patient":
        return patient_id is not None and p.id == patient_id
    if p.is_admin:
        return True
    return p.kind in ("connector", "practitioner") and _reaches(p, WRITE, practitioner_id)


def may_open_slots(p: Principal, practitioner_id: UUID) -> bool:
    """Open slots: an admin, or a practitioner or connector writing on that agenda.

    A practitioner's reach is their own agenda, per scope of their token: a token that asked
    for appointment:read only opens nothing, as it books or cancels nothing.
    """
    if p.is_admin:
        return True
    return p.kind in ("connector", "practitioner") and _reaches(p, WRITE, practitioner_id)


def slot_agendas(p: Principal) -> frozenset[UUID] | None:
    """Whose slots a search naming no practitioner covers: None = any, else this set.

    The same answer as may_see_slots, agenda by agenda: leaving out the practitioner must not
    show what naming them would refuse (a staff investigator sees no agenda at all).
    """
    if p.kind in ("patient", "service") or p.is_admin:
        return None
    if p.kind == "practitioner":
        return frozenset({p.id})
    if p.kind == "connector":
        return frozenset(
            x for scope in (READ, WRITE) if scope in p.scopes for x in p.reach.get(scope, ())
        )
    return frozenset()


def may_see_slots(p: Principal, practitioner_id: UUID) -> bool:
    """Free slots carry no patient data: patients see all; connectors their reach."""
    if p.kind in ("patient", "service") or p.is_admin:
        return True
    if p.kind == "practitioner":
        return p.id == practitioner_id
    return p.kind == "connector" and (
        _reaches(p, READ, practitioner_id) or _reaches(p, WRITE, practitioner_id)
    )
