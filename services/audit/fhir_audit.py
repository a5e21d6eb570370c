"""Access records as FHIR R4 AuditEvents, after IHE BALP (Basic Audit Log Patterns).

One AuditEvent per (access record, patient), as BALP asks for reads and searches that return
several patients' data: a patient's own audit trail then lists only their events. A refused
access (no patient data returned: 401, 403, 404, 429) is one AuditEvent with a failure outcome
whose description starts with the denial code, and no patient or appointment entity (what it
aimed at stays in the access index for investigators); a refused token has no principal, so
its agent is named by the token's fingerprint. Field classes travel as entity security labels
in Carnet's own code system.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

AUDIT_EVENT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
INTERACTIONS = "http://hl7.org/fhir/restful-interaction"
SUBTYPE = {
    "read": "read",
    "search": "search-type",
    "export": "search-type",
    "create": "create",
    "update": "patch",
}
ACTION = {"read": "R", "search": "E", "export": "E", "create": "C", "update": "U"}
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
DATA_CLASS_SYSTEM = "urn:carnet:data-class"
PURPOSE_SYSTEM = "urn:carnet:purpose-of-use"
PRINCIPAL_SYSTEM = "urn:carnet:principal"
PATIENT_SYSTEM = "urn:carnet:patient"
FINGERPRINT_SYSTEM = "urn:carnet:token-fingerprint"
_IDS = UUID("9d1d4c55-0f5e-4b8e-a1f3-34c1a8f2b7d0")


def _iso(when: datetime | str) -> str:
    text = when if isinstance(when, str) else when.isoformat()
    return text.replace("+00:00", "Z") if text.endswith("+00:00") else text


def _who(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The principal; for a refused token without one, the token's fingerprint (never the token)."""
    if record.get("principal_id") is not None:
        system = f"{PRINCIPAL_SYSTEM}:{record['principal_kind']}"
        return {"identifier": {"system": system, "value": str(record["principal_id"])}}
    if record.get("token_fingerprint"):
        fingerprint = {"system": FINGERPRINT_SYSTEM, "value": str(record["token_fingerprint"])}
        return {"identifier": fingerprint, "display": "unauthenticated bearer token"}
    return None


def _agent(record: Mapping[str, Any]) -> dict[str, Any]:
    """The requestor: the principal (connector, practitioner, patient, ...) and its address."""
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": "110153",
                    "display": "Source Role ID",
                }
            ]
        },
        "requestor": True,
        "network": {"address": record["network_address"], "type": "2"},
    }
    who = _who(record)
    if who is not None:
        agent["who"] = who
    if record.get("user_agent"):
        agent["name"] = str(record["user_agent"])[:200]
    if record.get("purpose"):
        agent["purposeOfUse"] = [
            {"coding": [{"system": PURPOSE_SYSTEM, "code": record["purpose"]}]}
        ]
    return agent


def _labels(classes: Iterable[str]) -> list[dict[str, str]]:
    return [{"system": DATA_CLASS_SYSTEM, "code": c} for c in sorted(classes)]


def _query_entity(record: Mapping[str, Any]) -> dict[str, Any]:
    """The query as received (BALP: role 24 Query, base64 in entity.query)."""
    query = str(record.get("query") or "")
    return {
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
        "query": base64.b64encode(query.encode("utf-8")).decode("ascii"),
        "description": f"request {record.get('request_id') or 'unknown'}"[:200],
    }


def audit_events(
    record: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    observer: str = "booking",
) -> list[dict[str, Any]]:
    """The AuditEvents of one access record; entries are its (appointment, patient) pairs."""
    access_id = str(record["access_id"])
    operation = record["operation"]
    denied = record["outcome"] != "success"
    base: dict[str, Any] = {
        "resourceType": "AuditEvent",
        # An access record never changes: its last update is when it was recorded.
        "meta": {"lastUpdated": _iso(record["occurred_at"])},
        "type": AUDIT_EVENT_TYPE,
        "subtype": [{"system": INTERACTIONS, "code": SUBTYPE.get(operation, "read")}],
        "action": ACTION.get(operation, "R"),
        "recorded": _iso(record["occurred_at"]),
        "outcome": "4" if denied else "0",
        "agent": [_agent(record)],
        "source": {
            "site": "carnet",
            "observer": {"display": f"carnet {observer} service"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    if denied:
        # The code (reach, not_found, quota, unauthenticated, forbidden) first, for machines.
        code, reason = record.get("denial_code"), record.get("denial_reason")
        text = f"{code}: {reason}" if code and reason else (code or reason)
        if text:
            base["outcomeDesc"] = str(text)[:500]
    by_patient: dict[str, list[str]] = {}
    # A refused access disclosed nothing: no patient or appointment entity, whatever it aimed at.
    for entry in () if denied else entries:
        patient = str(entry.get("patient_id") or "unknown")
        by_patient.setdefault(patient, []).append(str(entry["appointment_id"]))
    if not by_patient:
        return [{**base, "id": str(uuid5(_IDS, access_id)), "entity": [_query_entity(record)]}]
    classes = record.get("field_classes") or []
    events = []
    for patient, appointments in sorted(by_patient.items()):
        entity = [_query_entity(record)] if operation in ("search", "export") else []
        if patient != "unknown":
            entity.append(
                {
                    "what": {
                        "reference": f"Patient/{patient}",
                        "identifier": {"system": PATIENT_SYSTEM, "value": patient},
                    },
                    "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                    "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
                }
            )
        for appointment in sorted(appointments):
            entity.append(
                {
                    "what": {"reference": f"Appointment/{appointment}"},
                    "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                    "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
                    "securityLabel": _labels(classes),
                }
            )
        events.append({**base, "id": str(uuid5(_IDS, f"{access_id}:{patient}")), "entity": entity})
    return events
