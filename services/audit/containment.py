"""The containment list: every finding and measure on an incident's subjects, from the ledger.

Findings are SuspiciousAccessDetected of any version, upcast to V3 (a V2 finding names a
connector; a V3 one any principal, or only an address). Measures are identity's: a connector
suspended, reinstated, its grants revoked or its secret rotated; a person's account suspended
or reinstated, their credentials reset; a throttle (QuotaSet with reason `throttle`); a
principal trusted for a while. Who counts: the subjects' principals and connectors, every
principal that acted in scope, and the subjects' addresses; a finding on someone else is shown
as `address` when it was seen at a subject address, `linked` when it lists one of them among
its linked principals. Time order, from the window's start on
(what followed matters most).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from contracts.errors import ContractError
from contracts.registry import REGISTRY
from services.audit.ledger import Connection

FINDING = "SuspiciousAccessDetected"
MEASURES = (
    "ConnectorSuspended", "ConnectorReinstated", "ConnectorAuthorizationRevoked",
    "ConnectorSecretRotated", "AccountSuspended", "AccountReinstated", "CredentialsReset",
    "QuotaSet", "PrincipalTrusted",
)  # fmt: skip
# Literal types (code constants, never input), so the ledger's partial index
# `ledger_subjects_idx` (migration 0020) provably covers the query.
_TIMELINE = f"""
SELECT seq, event_type, schema_version, coalesce(occurred_at, recorded_at) AS at, payload
  FROM audit.ledger
 WHERE event_type IN ({", ".join(f"'{t}'" for t in (FINDING, *MEASURES))})
   AND coalesce(occurred_at, recorded_at) >= %(since)s
   AND (payload ->> 'principal_id' = ANY(%(ids)s) OR payload ->> 'connector_id' = ANY(%(ids)s)
        OR payload ->> 'network_address' = ANY(%(addresses)s)
        OR coalesce(payload -> 'linked_principal_ids', '[]'::jsonb) ?| %(ids)s)
 ORDER BY at, seq
"""
# What a step shows of its payload (never a name, a contact or a reason typed by a person,
# except a trust's stated reason, which an operator wrote for exactly this).
_SHOWN = (
    "rule", "severity", "recommended_action", "detection_id", "network_address", "reason",
    "practitioner_id", "per_hour", "burst", "until",
)  # fmt: skip
_KIND = {
    "ConnectorSuspended": "connector",
    "ConnectorReinstated": "connector",
    "ConnectorAuthorizationRevoked": "connector",
    "ConnectorSecretRotated": "connector",
}


def _upcast(event_type: str, version: int, payload: Any) -> dict[str, Any]:
    """The payload at its latest version; as stored when no contract knows it."""
    data = dict(payload) if isinstance(payload, Mapping) else {}
    try:
        return REGISTRY.upcast(event_type, version, data)[1]
    except ContractError:
        return data


def _step(
    seq: int, event_type: str, at: datetime, p: Mapping[str, Any], scope: tuple[set[str], set[str]]
) -> dict[str, Any]:
    """One finding or measure: when, on whom (by kind), and its own facts."""
    ids, addresses = scope
    principal = p.get("principal_id") or p.get("connector_id")
    # subject: on one of them (or only on a subject address); address: on someone else seen at
    # a subject address; linked: on someone else, listing one of them among its linked.
    if {str(principal), str(p.get("connector_id"))} & ids or (
        principal is None and p.get("network_address") in addresses
    ):
        relation = "subject"
    else:
        relation = "address" if p.get("network_address") in addresses else "linked"
    step: dict[str, Any] = {
        "seq": seq,
        "at": at.isoformat(),
        "event_type": event_type,
        "principal_kind": p.get("principal_kind") or _KIND.get(event_type),
        "principal_id": str(principal) if principal else None,
        "connector_id": str(p["connector_id"]) if p.get("connector_id") else None,
        "relation": relation,
    }
    for key in _SHOWN:
        if p.get(key) is not None:
            step[key] = str(p[key]) if key in ("detection_id", "practitioner_id") else p[key]
    if "revoked_token_ids" in p:
        step["revoked_token_ids"] = len(p["revoked_token_ids"] or ())
    return step


def timeline(
    conn: Connection, ids: Iterable[Any], addresses: Iterable[str], since: datetime
) -> list[dict[str, Any]]:
    """Findings and measures on these principals/connectors or addresses since `since`."""
    wanted = sorted({str(i) for i in ids if i is not None})
    params = {"since": since, "ids": wanted, "addresses": sorted(set(addresses))}
    if not wanted and not params["addresses"]:
        return []
    steps = []
    for seq, event_type, version, at, payload in conn.execute(_TIMELINE, params).fetchall():
        p = _upcast(event_type, version, payload)
        if event_type == "QuotaSet" and p.get("reason") != "throttle":
            continue  # an operator's quota is a setting, not a response to this incident
        steps.append(_step(seq, event_type, at, p, (set(wanted), set(params["addresses"]))))
    return steps
