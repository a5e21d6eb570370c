"""Refused attempts in an incident's scope: evidence, never exposure.

Every refusal booking recorded (AppointmentsAccessed V3): a read outside the principal's reach
(`reach`, with the appointments, patients and practitioners it aimed at), an id that does not
exist (`not_found`), a token identity refused (`unauthenticated`: no principal, the token's
fingerprint and the address), a read over quota (`quota`). They are listed with their targets
and counted by code, apart from what was exposed: an attempt disclosed nothing, so it adds no
patient to the affected set and no Art. 34 notice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from services.audit.investigation import Evidence
from services.audit.trace import denial_code


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


def attempts(evidence: Evidence, keys: Sequence[str]) -> dict[str, Any]:
    """The refusals in scope, oldest first, each with its targets; counts by code and target."""
    targets: dict[int, list[dict[str, str | None]]] = {}
    for t in evidence.targets:
        targets.setdefault(t["seq"], []).append(
            {k: _s(t[k]) for k in ("appointment_id", "patient_id", "practitioner_id")}
        )
    items = []
    for r in evidence.requests:
        if r["outcome"] != "denied":
            continue
        items.append(
            {
                "at": r["occurred_at"].isoformat(),
                "access_id": _s(r["access_id"]),
                "principal_kind": r["principal_kind"],
                "principal_id": _s(r["principal_id"]),
                "connector_id": _s(r["connector_id"]),
                "network_address": r["network_address"],
                "user_agent": r["user_agent"],
                "request_id": r["request_id"],
                "operation": r["operation"],
                "denial_code": denial_code(r),
                "denial_reason": r["denial_reason"],
                "token_fingerprint": r["token_fingerprint"],
                "targets": targets.get(r["seq"], []),
                "subjects": [keys[i] for i in r["subjects"]],
            }
        )
    aimed = [t for item in items for t in item["targets"]]
    fingerprints = {i["token_fingerprint"] for i in items if i["token_fingerprint"]}
    return {
        "count": len(items),
        "by_code": dict(sorted(Counter(i["denial_code"] for i in items).items())),
        "targeted_appointment_count": len({t["appointment_id"] for t in aimed}),
        "targeted_patient_count": len({t["patient_id"] for t in aimed if t["patient_id"]}),
        "token_fingerprints": sorted(fingerprints),
        "items": items,
    }
