"""What the affected-set bench times: the ledger path on a sample, then affected_set and its
two statements at every size in turn, and their plans."""

from __future__ import annotations

import dataclasses
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from scripts.bench._audit_index_data import (
    APPOINTMENTS,
    DENIED,
    FIRST_DAY,
    PAGE,
    SEED,
    World,
    label,
    uuid4_bytes,
    window,
)
from scripts.bench._audit_index_scope import run_checked
from scripts.bench._env import bench_database
from services.audit import access_index, investigation, ledger, sequencer
from services.audit.subjects import Scope


def _payload(world: World, rng: random.Random) -> dict[str, Any]:
    """One AppointmentsAccessed V2 payload drawn as `generate` draws a background request."""
    who = world.principals[world.weights[rng.getrandbits(16)]]
    denied = rng.random() < DENIED
    k = 0 if denied else world.entries[rng.getrandbits(16)]
    offset = rng.randrange(APPOINTMENTS - PAGE)
    entries = [
        {
            "appointment_id": str(uuid.UUID(bytes=t[4:20])),
            "patient_id": str(uuid.UUID(bytes=t[24:40])),
            "practitioner_id": str(uuid.UUID(bytes=t[44:60])),
        }
        for t in world.triples[offset : offset + k]
    ]
    f = who.fields
    return {
        "access_id": str(uuid.UUID(bytes=uuid4_bytes(rng))),
        "principal_kind": f["principal_kind"],
        "principal_id": f["principal_id"],
        "connector_id": f["connector_id"],
        "network_address": f["network_address"],
        "user_agent": f["user_agent"],
        "request_id": rng.randbytes(16).hex(),
        "operation": "read" if k == 1 else "search",
        "query": "" if k == 1 else "practitioner=Practitioner/…&_count=50",
        "purpose": f["purpose"],
        "appointment_ids": [e["appointment_id"] for e in entries],
        "patient_ids": list(dict.fromkeys(e["patient_id"] for e in entries)),
        "practitioner_ids": list(dict.fromkeys(e["practitioner_id"] for e in entries)),
        "entries": entries,
        "field_classes": [] if denied else f["field_classes"],
        "medical_decrypted": f["medical_decrypted"] and not denied,
        "result_count": k,
        "outcome": "denied" if denied else "success",
        "denial_reason": "practitioner outside the connector's reach" if denied else None,
    }


def ledger_path(pg_url: str, world: World, n: int) -> dict[str, float]:
    """`n` records the service's way: staged, sequenced into the ledger, indexed; rates."""
    rng = random.Random(SEED + 1)
    events = [
        ledger.IncomingEvent(
            event_id=uuid.UUID(bytes=uuid4_bytes(rng)),
            source_service="booking",
            source_position=0,  # booking's store assigns it: _record
            stream_id=f"access-{i}",
            stream_version=1,
            event_type=access_index.ACCESS_EVENT,
            schema_version=2,
            payload=_payload(world, rng),
            metadata={"correlation_id": rng.randbytes(8).hex()},
            occurred_at=FIRST_DAY + timedelta(seconds=i),
        )
        for i in range(n)
    ]
    with (
        bench_database(pg_url, "carnet_bench_audit_ledger") as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        events = _record(conn, events)  # untimed: booking's work, and the ledger takes no other
        t0 = time.monotonic()
        for event in events:  # what each consumer does first, one commit per event
            sequencer.stage(conn, [event])
        stage_s = time.monotonic() - t0
        t0 = time.monotonic()
        moved = 0
        while batch := sequencer.sequence(conn):  # full batches: the best case for the lock
            moved += batch
        sequence_s = time.monotonic() - t0
        t0 = time.monotonic()
        read = access_index.catch_up(conn)
        catch_up_s = time.monotonic() - t0
        assert moved == read == n, (moved, read, n)
    return {
        "records": n,
        "stage_per_s": n / stage_s,
        "sequence_per_s": n / sequence_s,
        "catch_up_per_s": n / catch_up_s,
    }


def _record(conn: psycopg.Connection, events: list[ledger.IncomingEvent]) -> list[Any]:
    """Record the events in booking's store, as booking would; them with their positions."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO booking.events (stream_id, stream_version, event_id, event_type,"
            " schema_version, data, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (e.stream_id, e.stream_version, e.event_id, e.event_type, e.schema_version,
                 Jsonb(e.payload),
                 Jsonb({**e.metadata, "occurred_at": e.occurred_at.isoformat()}))
                for e in events
            ],
        )  # fmt: skip
        cur.execute("SELECT event_id, position FROM booking.events")
        positions = dict(cur.fetchall())
    return [dataclasses.replace(e, source_position=positions[e.event_id]) for e in events]


def ledger_hours(records: int, path: dict[str, float]) -> float:
    """Hours at least, to bring `records` through the ledger: the slower locked step's rate.

    Staging spreads over consumers; sequencing (under the ledger lock) and catch_up (under
    the position's lock) each run one at a time, so the slower of the two bounds the whole.
    """
    return records / min(path["sequence_per_s"], path["catch_up_per_s"]) / 3600


def statements(subject: Scope) -> tuple[str, str, dict[str, Any]]:
    """The requests and entries statements affected_set runs, as it runs them, and their params."""
    start, end = window()
    found = investigation.statements(subject, start, end)
    return found["requests"][0], found["entries"][0], found["requests"][1]


@dataclass
class Timings:
    """Per size: seconds per run of each measurement, and the EXPLAINs."""

    affected: list[float] = field(default_factory=list)
    checked: list[float] = field(default_factory=list)  # the report's index check + affected_set
    check: list[float] = field(default_factory=list)  # the check alone
    requests_sql: list[float] = field(default_factory=list)
    entries_sql: list[float] = field(default_factory=list)
    explains: dict[str, dict[str, Any]] = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=dict)


def run_affected(conn: psycopg.Connection, subject: Scope) -> tuple[float, dict[str, Any]]:
    """One affected_set, as an investigation runs it once caught up: seconds and its answer."""
    start, end = window()
    t0 = time.perf_counter()
    answer = investigation.affected_set(
        conn, subject, start, end, with_states=False, catch_up=False
    )
    return time.perf_counter() - t0, answer


def run_raw(conn: psycopg.Connection, statement: str, params: dict[str, Any]) -> float:
    """One statement, every row fetched as plain tuples: seconds."""
    t0 = time.perf_counter()
    conn.execute(statement, params).fetchall()
    return time.perf_counter() - t0


def explain(conn: psycopg.Connection, statement: str, params: dict[str, Any]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS): times, buffers, the plan's text."""
    doc = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params).fetchone()
    data = doc[0][0] if isinstance(doc[0], list) else json.loads(doc[0])[0]
    text = "\n".join(
        r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params)
    )
    plan = data["Plan"]
    return {
        "execution_ms": data["Execution Time"],
        "planning_ms": data["Planning Time"],
        "hit": plan.get("Shared Hit Blocks", 0),
        "read": plan.get("Shared Read Blocks", 0),
        "rows": plan.get("Actual Rows", 0),
        "jit": "JIT" in data,
        "shape": _shape(plan),
        "nodes": list(_walk(plan)),
        "text": text,
    }


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan: its index or relation, loops, rows, buffers (hit + read)."""
    yield {
        "type": node["Node Type"],
        "on": node.get("Index Name") or node.get("Relation Name"),
        "loops": node.get("Actual Loops", 0),
        "rows": node.get("Actual Rows", 0) * node.get("Actual Loops", 0),
        "buffers": node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0),
    }
    for child in node.get("Plans", []):
        yield from _walk(child)


def _shape(node: dict[str, Any]) -> str:
    """A plan as one line: node (index) [children], InitPlans and SubPlans included."""
    name = node["Node Type"]
    if "Index Name" in node:
        name += f" on {node['Index Name']}"
    elif "Relation Name" in node:
        name += f" on {node['Relation Name']}"
    children = node.get("Plans", [])
    if not children:
        return name
    return f"{name} [{', '.join(_shape(c) for c in children)}]"


def first_run(url: str, subject: Scope) -> float:
    """affected_set on a fresh connection right after the load: plans, catalog, buffers cold."""
    with psycopg.connect(url, autocommit=True) as conn:
        return run_affected(conn, subject)[0]


def measure(urls: dict[int, str], subject: Scope, runs: int) -> dict[int, Timings]:
    """`runs` rounds; in each, every size in turn (which goes first alternates)."""
    requests_sql, entries_sql, params = statements(subject)
    out = {size: Timings() for size in urls}
    conns = {size: psycopg.connect(url, autocommit=True) for size, url in urls.items()}
    try:
        for conn in conns.values():  # untimed: plans cached, pages in shared buffers
            run_affected(conn, subject)
        order = list(urls)
        for r in range(runs):
            for size in order if r % 2 == 0 else order[::-1]:
                conn, t = conns[size], out[size]
                seconds, answer = run_affected(conn, subject)
                t.affected.append(seconds)
                check_s, both_s = run_checked(conn, subject)
                t.check.append(check_s)
                t.checked.append(both_s)
                t.requests_sql.append(run_raw(conn, requests_sql, params))
                t.entries_sql.append(run_raw(conn, entries_sql, params))
                t.answer = {
                    k: answer[k]
                    for k in ("requests", "served_requests", "denied_requests",
                              "appointment_count", "patient_count")
                }  # fmt: skip
                t.answer["reads"] = sum(a["reads"] for a in answer["appointments"])
            print(
                f"  round {r + 1}/{runs}: "
                + "  ".join(f"{label(s)} {out[s].affected[-1] * 1e3:.0f} ms" for s in order),
                flush=True,
            )
        for size, conn in conns.items():
            out[size].explains["requests"] = explain(conn, requests_sql, params)
            out[size].explains["entries"] = explain(conn, entries_sql, params)
    finally:
        for conn in conns.values():
            conn.close()
    return out
