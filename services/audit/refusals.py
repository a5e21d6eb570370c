"""Every refused credential at audit's API is evidence: an AuditAccessRefused before the answer.

Booking records its refusals as access records (services/booking/evidence.py); audit's routes
(traces, incidents, the AuditEvent export) refuse a token identity does not accept (401) or a
caller who is not a staff investigator or admin (403) before they read anything. Each such
refusal is appended to audit's log on a stream of its own, so detection sees token guessing,
replay and probing at audit too (queue `audit.detect_refusals`) and the ledger keeps it.
Other refusals (bad input, an unknown incident) are not attempts on data and are not recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from contracts.registry import REGISTRY
from services.common.errors import DomainError, Forbidden, Unauthorized
from services.common.eventstore.models import NewEvent
from services.common.eventstore.store import EventStore
from services.common.http.request import Request
from services.common.json_input import storable_text
from services.common.logging import current_ids
from services.common.principals import token_fingerprint

REFUSED = "AuditAccessRefused"


class NotInvestigator(Forbidden):
    """A known caller without an investigator's role: the refusal names who asked."""

    def __init__(self, detail: str, principal: Mapping[str, Any]) -> None:
        super().__init__(detail)
        self.principal = principal


def denial_code(error: DomainError) -> str | None:
    """The contract's code of a refusal that is evidence, None for any other."""
    if isinstance(error, Unauthorized):
        return "unauthenticated"
    if isinstance(error, Forbidden):
        return "forbidden"
    return None


def payload(
    req: Request, route: str, code: str, principal: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The record's payload: the caller when known, its address, client and token fingerprint."""
    token, agent = req.bearer(), req.headers.get("User-Agent")
    return {
        "access_id": str(uuid.uuid4()),
        "principal_kind": str(principal.get("kind") or "unknown") if principal else "unknown",
        "principal_id": str(principal["id"]) if principal and principal.get("id") else None,
        "network_address": req.remote_addr,
        "user_agent": storable_text(agent, 500) if agent else None,
        "request_id": storable_text(req.request_id, 200) or "unknown",
        "route": route[:100],
        "token_fingerprint": token_fingerprint(token) if token else None,
        "denial_code": code,
    }


def record(
    store: EventStore,
    req: Request,
    route: str,
    error: DomainError,
    principal: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Append the refusal if it is evidence (its own transaction); the payload, or None."""
    code = denial_code(error)
    if code is None:
        return None
    who = principal if principal is not None else getattr(error, "principal", None)
    data = REGISTRY.dump_payload(REFUSED, payload(req, route, code, who))
    new = NewEvent(uuid.uuid4(), REFUSED, REGISTRY.latest_version(REFUSED), data,
                   dict(current_ids()))  # fmt: skip
    store.append(f"refusal-{data['access_id']}", [new], 0)
    return data
