"""Synthetic access records in bulk, and what the access index must then hold."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import psycopg

from services.audit import access_index
from tests.contract.examples import EXAMPLES
from tests.support.ledger import T0, Ledger

CLASSES = ("administrative", "sensitive", "medical")


def ids(n: int) -> list[str]:
    """`n` fresh ids, as strings (payloads carry them so)."""
    return [str(uuid.uuid4()) for _ in range(n)]


def access_v2(rng: random.Random, people: dict[str, list[str]], **over: Any) -> dict[str, Any]:
    """A valid V2 record: a success with 0..5 entries, or a refusal with none."""
    denied = rng.random() < 0.15
    picked = [] if denied else rng.sample(people["appointments"], rng.randint(0, 5))
    entries = [
        {
            "appointment_id": a,
            "patient_id": people["patient_of"][a],
            "practitioner_id": people["practitioner_of"][a],
        }
        for a in picked
    ]
    connector = rng.choice([*people["connectors"], None])
    classes = [] if not picked else sorted(rng.sample(CLASSES, rng.randint(1, 3)))
    payload = {
        "access_id": str(uuid.uuid4()),
        "principal_kind": "connector" if connector else rng.choice(["practitioner", "patient"]),
        "principal_id": connector or rng.choice(people["people"]),
        "connector_id": connector,
        "network_address": rng.choice(["198.51.100.7", "2001:db8::7", "192.0.2.44"]),
        "user_agent": rng.choice(["AgendaSync/4.2", None]),
        "request_id": f"req-{rng.randrange(10**6)}",
        "operation": rng.choice(["read", "search", "export"]),
        "query": "date=ge2030-03-01",
        "purpose": rng.choice(["care", "agenda_sync", None]),
        "appointment_ids": [e["appointment_id"] for e in entries],
        "patient_ids": list(dict.fromkeys(e["patient_id"] for e in entries)),
        "practitioner_ids": list(dict.fromkeys(e["practitioner_id"] for e in entries)),
        "entries": entries,
        "field_classes": classes,
        "medical_decrypted": "medical" in classes,
        "result_count": len(entries),
        "outcome": "denied" if denied else "success",
        "denial_reason": "outside grant" if denied else None,
    }
    return {**payload, **over}


def access_v1(rng: random.Random, people: dict[str, list[str]], **over: Any) -> dict[str, Any]:
    """A valid V1 record: appointments and patients as two unpaired sets."""
    picked = rng.sample(people["appointments"], rng.randint(1, 4))
    payload = {
        "access_id": str(uuid.uuid4()),
        "principal_id": rng.choice(people["connectors"]),
        "connector_id": rng.choice([*people["connectors"], None]),
        "network_address": "203.0.113.9",
        "request_id": f"req-v1-{rng.randrange(10**6)}",
        "operation": rng.choice(["read", "search"]),
        "purpose": "agenda_sync",
        "appointment_ids": picked,
        "patient_ids": list(dict.fromkeys(people["patient_of"][a] for a in picked)),
        "field_classes": sorted(rng.sample(CLASSES, rng.randint(1, 3))),
    }
    return {**payload, **over}


def access_v3(rng: random.Random, people: dict[str, list[str]], **over: Any) -> dict[str, Any]:
    """A valid V3 refusal: a read aimed at appointments (targets), or a refused token (401)."""
    payload = access_v2(rng, people, outcome="denied", denial_reason="outside your reach")
    aimed = rng.sample(people["appointments"], rng.randint(1, 3))
    targets = [
        {
            "appointment_id": a,
            "patient_id": people["patient_of"][a],
            "practitioner_id": people["practitioner_of"][a],
        }
        for a in aimed
    ]
    unknown = rng.random() < 0.4
    payload.update(
        appointment_ids=[], patient_ids=[], practitioner_ids=[], entries=[], field_classes=[],
        medical_decrypted=False, result_count=0,
        token_fingerprint=f"{rng.getrandbits(64):016x}",
        denial_code="unauthenticated" if unknown else "reach",
        targets=[] if unknown else targets,
    )  # fmt: skip
    if unknown:
        payload.update(principal_kind="unknown", principal_id=None, connector_id=None)
    return {**payload, **over}


def population(rng: random.Random) -> dict[str, Any]:
    """Patients, practitioners, connectors and who each appointment belongs to."""
    patients, practitioners, appointments = ids(12), ids(4), ids(40)
    return {
        "appointments": appointments,
        "patient_of": {a: rng.choice(patients) for a in appointments},
        "practitioner_of": {a: rng.choice(practitioners) for a in appointments},
        "connectors": ids(3),
        "people": patients + practitioners,
    }


def fill(book: Ledger, count: int, seed: int = 6) -> None:
    """`count` access records (a fifth V1), other events between them, some without a time."""
    rng = random.Random(seed)
    people = population(rng)
    for n in range(count):
        at = None if n % 17 == 0 else T0 + timedelta(seconds=n * 7 + rng.randrange(5))
        if n % 5 == 4:
            book.put("AppointmentsAccessed", access_v1(rng, people), version=1, at=at)
        elif n % 5 == 2:
            book.put("AppointmentsAccessed", access_v3(rng, people), version=3, at=at)
        else:
            book.put("AppointmentsAccessed", access_v2(rng, people), version=2, at=at)
        if n % 9 == 0:  # other events: the index reads past them
            book.put("AppointmentBooked", EXAMPLES["AppointmentBooked"], at=at)
            book.put("TokenIssued", EXAMPLES["TokenIssued"], source="identity", at=at)


def expected(book: Ledger, url: str) -> tuple[list[tuple], set[tuple], set[tuple]]:
    """What the index must hold, computed from the records as written (the ground truth)."""
    with psycopg.connect(url) as conn:
        recorded = dict(conn.execute("SELECT seq, recorded_at FROM audit.ledger").fetchall())
    requests, entries, targets = [], set(), set()
    u = lambda v: uuid.UUID(v) if v else None  # noqa: E731
    for seq, version, p, at in sorted(book.records, key=lambda r: r[0]):
        when = at or recorded[seq]
        if version == 1:
            p = {
                **p,
                "principal_kind": "connector" if p["connector_id"] else "unknown",
                "user_agent": None,
                "query": "",
                "outcome": "success",
                "denial_reason": None,
                "medical_decrypted": "medical" in p["field_classes"],
                "result_count": len(p["appointment_ids"]),
            }
            only = p["patient_ids"][0] if len(p["patient_ids"]) == 1 else None
            pairs = [(a, only, None) for a in p["appointment_ids"]]
        else:
            pairs = [
                (e["appointment_id"], e["patient_id"], e["practitioner_id"]) for e in p["entries"]
            ]
        if version < 3:  # the contract's upcaster: V2 refusals classed by their reason
            reason = p["denial_reason"] or ""
            code = ("reach" if "grant" in reason else "forbidden") if reason else None
            p = {**p, "denial_code": code, "token_fingerprint": None, "targets": []}
        requests.append(
            (seq, u(p["access_id"]), p["principal_kind"], u(p["principal_id"]),
             u(p["connector_id"]), p["network_address"], p["user_agent"], p["request_id"],
             p["operation"], p["query"], p["purpose"], p["outcome"], p["denial_reason"],
             p["field_classes"], p["medical_decrypted"], p["result_count"], when,
             p["denial_code"], p["token_fingerprint"])
        )  # fmt: skip
        for rows, items in ((entries, pairs), (targets, [
            (t["appointment_id"], t["patient_id"], t["practitioner_id"]) for t in p["targets"]
        ])):  # fmt: skip
            for a, patient, practitioner in items:
                rows.add(
                    (seq, u(p["access_id"]), u(a), u(patient), u(practitioner),
                     u(p["principal_id"]), u(p["connector_id"]), when)
                )  # fmt: skip
    return requests, entries, targets


def index(url: str) -> tuple[list[tuple], set[tuple], set[tuple]]:
    """What the access index holds, in the shape `expected` computes."""
    columns = ", ".join(access_index.ENTRY_COLUMNS)
    with psycopg.connect(url) as conn:
        requests = conn.execute(
            f"SELECT {', '.join(access_index.REQUEST_COLUMNS)} FROM audit.access_requests"
            " ORDER BY seq"
        ).fetchall()
        entries, targets = (
            set(conn.execute(f"SELECT {columns} FROM {table}").fetchall())
            for table in (access_index.ENTRIES, access_index.TARGETS)
        )
    return requests, entries, targets
