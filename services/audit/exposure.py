"""What was exposed, folded from index rows: pure functions, no I/O.

An entry row is one appointment one read returned, with the record's principal, field classes
and the subjects (indexes) the record belongs to. A principal's read of its own data is not
exposure: a patient reading its own appointment, a practitioner its own agenda. Such entries
are counted apart (`own_data`) and never reach the affected set, so no Art. 34 notice ever
tells someone about their own reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

Row = Mapping[str, Any]
# Whose data a principal of this kind may call its own: the entry column naming it.
OWNER_COLUMN = {"patient": "patient_id", "practitioner": "practitioner_id"}


def is_own(row: Row) -> bool:
    """A patient's own appointment, a practitioner's own agenda: the principal's own data."""
    column = OWNER_COLUMN.get(row.get("principal_kind") or "")
    principal = row.get("principal_id")
    return column is not None and principal is not None and row.get(column) == principal


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None


def per_appointment(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """One line per appointment (ids as text, made once): first and last read, reads, classes,
    subjects; by first read."""
    out: dict[Any, dict[str, Any]] = {}
    for row in rows:
        at = row["occurred_at"]
        a = out.get(row["appointment_id"])
        if a is None:  # not setdefault: its default (three UUIDs as text) would be built per row
            a = out[row["appointment_id"]] = {
                "appointment_id": str(row["appointment_id"]),
                "patient_id": _s(row["patient_id"]),
                "practitioner_id": _s(row["practitioner_id"]),
                "first_read_at": at,
                "last_read_at": at,
                "reads": 0,
                "field_classes": set(),
                "medical_decrypted": False,
                "subjects": set(),
            }
        a["reads"] += 1
        if at < a["first_read_at"]:
            a["first_read_at"] = at
        if at > a["last_read_at"]:
            a["last_read_at"] = at
        a["field_classes"].update(row["field_classes"] or ())
        a["medical_decrypted"] = a["medical_decrypted"] or bool(row["medical_decrypted"])
        a["subjects"].update(row.get("subjects") or ())
    return sorted(out.values(), key=lambda a: (a["first_read_at"], a["appointment_id"]))


def per_patient(
    appointments: Sequence[Mapping[str, Any]], subjects: Sequence[str]
) -> list[dict[str, Any]]:
    """One line per patient ("unknown" for unpaired V1 reads), by patient id, with the subjects
    (named by `subjects`, one name per index) through which they were exposed."""
    out: dict[str, dict[str, Any]] = {}
    for a in appointments:
        key = a["patient_id"] or "unknown"
        p = out.get(key)
        if p is None:
            p = out[key] = {
                "patient_id": key,
                "appointment_ids": [],
                "field_classes": set(),
                "first_access_at": a["first_read_at"],
                "last_access_at": a["last_read_at"],
                "medical_decrypted": False,
                "subjects": set(),
            }
        p["appointment_ids"].append(a["appointment_id"])
        p["field_classes"] |= a["field_classes"]
        p["first_access_at"] = min(p["first_access_at"], a["first_read_at"])
        p["last_access_at"] = max(p["last_access_at"], a["last_read_at"])
        p["medical_decrypted"] = p["medical_decrypted"] or a["medical_decrypted"]
        p["subjects"] |= a["subjects"]
    return [
        {
            **p,
            "field_classes": sorted(p["field_classes"]),
            "first_access_at": p["first_access_at"].isoformat(),
            "last_access_at": p["last_access_at"].isoformat(),
            "subjects": [subjects[i] for i in sorted(p["subjects"])],
        }
        for _, p in sorted(out.items())
    ]


def summary(appointments: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts, classes and first/last read of a set of exposed appointments."""
    classes = sorted({c for a in appointments for c in a["field_classes"]})
    patients = {a["patient_id"] for a in appointments if a["patient_id"]}
    return {
        "appointment_count": len(appointments),
        "patient_count": len(patients),
        "field_classes": classes,
        "medical_decrypted": any(a["medical_decrypted"] for a in appointments),
        "first_read_at": _iso(min((a["first_read_at"] for a in appointments), default=None)),
        "last_read_at": _iso(max((a["last_read_at"] for a in appointments), default=None)),
    }


def requests_summary(requests: Sequence[Row]) -> dict[str, Any]:
    """Requests served and refused, first and last, addresses, and who made them (by kind)."""
    times = [r["occurred_at"] for r in requests]
    actors: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in requests:
        key = (r["principal_kind"], r["principal_id"], r["connector_id"])
        actor = actors.setdefault(
            key,
            {
                "principal_kind": r["principal_kind"],
                "principal_id": _s(r["principal_id"]),
                "connector_id": _s(r["connector_id"]),
                "requests": 0,
            },
        )
        actor["requests"] += 1
    served = sum(1 for r in requests if r["outcome"] == "success")
    addresses = {r["network_address"] for r in requests if r["network_address"]}
    return {
        "requests": len(requests),
        "served_requests": served,
        "denied_requests": len(requests) - served,
        "first_access_at": _iso(min(times, default=None)),
        "last_access_at": _iso(max(times, default=None)),
        "network_addresses": sorted(addresses),
        "principals": sorted(actors.values(), key=lambda a: -a["requests"]),
    }


def own_data(rows: Sequence[Row]) -> dict[str, Any]:
    """Reads of the principals' own data, left out of the exposure: how many, which appointments."""
    return {
        "reads": len(rows),
        "appointment_ids": sorted({str(r["appointment_id"]) for r in rows}),
    }


def appointment_line(a: Mapping[str, Any], subjects: Sequence[str]) -> dict[str, Any]:
    """An exposed appointment as the report shows it (its state as seen is added by the caller)."""
    return {
        "appointment_id": a["appointment_id"],
        "patient_id": a["patient_id"],
        "practitioner_id": a["practitioner_id"],
        "first_read_at": a["first_read_at"].isoformat(),
        "last_read_at": a["last_read_at"].isoformat(),
        "reads": a["reads"],
        "field_classes": sorted(a["field_classes"]),
        "medical_decrypted": a["medical_decrypted"],
        "subjects": [subjects[i] for i in sorted(a["subjects"])],
    }
