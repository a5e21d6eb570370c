"""The report's index check in the affected-set bench: the scraper's ledger rows behind the index.

The bench loads the index alone (10M records through the ledger would take hours: see the
ledger path). A report checks only its scope's records (`index_check.check_scope`), so the
ledger here holds exactly those: every record of the scraper's connector, written back as the
AppointmentsAccessed V2 events the index rows were derived from, on the same seqs. The check's
ledger side is then an index range scan over the scraper's rows, as it is on a full ledger
(whose other rows the partial indexes of migration 0029 skip by key).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from contracts.booking_access import denial_code_of
from scripts.bench._audit_index_data import window
from services.audit import index_check, investigation, ledger
from services.audit.subjects import Scope

_REQUESTS = """
SELECT seq, access_id, principal_kind, principal_id, connector_id, network_address, user_agent,
       request_id, operation, query, purpose, outcome, denial_reason, field_classes,
       medical_decrypted, result_count, occurred_at
  FROM audit.access_requests WHERE connector_id = %s ORDER BY seq
"""
_ENTRIES = """
SELECT seq, appointment_id, patient_id, practitioner_id FROM audit.access_entries
 WHERE seq = ANY(%s) ORDER BY seq, appointment_id
"""
_INSERT = f"INSERT INTO audit.ledger ({ledger.ENTRY_COLUMNS}) VALUES ({', '.join(['%s'] * 15)})"


def _payload(r: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The V2 record booking would have sent for this index row and its entries."""
    pairs = [{k: str(e[k]) for k in ("appointment_id", "patient_id", "practitioner_id")}
             for e in entries]  # fmt: skip
    return {
        "access_id": str(r["access_id"]), "principal_kind": r["principal_kind"],
        "principal_id": str(r["principal_id"]), "connector_id": str(r["connector_id"]),
        "network_address": r["network_address"], "user_agent": r["user_agent"],
        "request_id": r["request_id"], "operation": r["operation"], "query": r["query"],
        "purpose": r["purpose"], "appointment_ids": [p["appointment_id"] for p in pairs],
        "patient_ids": list(dict.fromkeys(p["patient_id"] for p in pairs)),
        "practitioner_ids": list(dict.fromkeys(p["practitioner_id"] for p in pairs)),
        "entries": pairs, "field_classes": list(r["field_classes"]),
        "medical_decrypted": r["medical_decrypted"], "result_count": r["result_count"],
        "outcome": r["outcome"], "denial_reason": r["denial_reason"],
    }  # fmt: skip


def ledger_scope(url: str, connector: UUID) -> int:
    """Write the connector's ledger rows behind its index rows; how many (guard off: no store)."""
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        requests = cur.execute(_REQUESTS, (connector,)).fetchall()
        entries: dict[int, list[dict[str, Any]]] = {}
        for e in cur.execute(_ENTRIES, ([r["seq"] for r in requests],)).fetchall():
            entries.setdefault(e["seq"], []).append(e)
        cur.execute("ALTER TABLE audit.ledger DISABLE TRIGGER ledger_guard")
        rows = []
        for r in requests:
            digest = hashlib.sha256(str(r["seq"]).encode()).digest()  # no chain is checked here
            rows.append((r["seq"], r["access_id"], "booking", r["seq"], f"access-{r['seq']}", 1,
                         "AppointmentsAccessed", 2, Jsonb(_payload(r, entries.get(r["seq"], []))),
                         Jsonb({"correlation_id": str(r["access_id"])}), r["occurred_at"],
                         r["occurred_at"], 2, digest, digest))  # fmt: skip
        cur.executemany(_INSERT, rows)
        cur.execute("ALTER TABLE audit.ledger ENABLE TRIGGER ledger_guard")
        # The loader leaves V3's denial_code NULL; the projector classes a V2 refusal by its
        # reason. The scraper's refused rows get that code, as an index built by it would hold.
        codes = [(denial_code_of(r["denial_reason"]), r["seq"])
                 for r in requests if r["outcome"] == "denied"]  # fmt: skip
        cur.execute("ALTER TABLE audit.access_requests DISABLE TRIGGER USER")
        cur.executemany("UPDATE audit.access_requests SET denial_code = %s WHERE seq = %s", codes)
        cur.execute("ALTER TABLE audit.access_requests ENABLE TRIGGER USER")
        cur.execute("ANALYZE audit.ledger")
    return len(rows)


def run_checked(conn: psycopg.Connection, subject: Scope) -> tuple[float, float]:
    """What a report does before it answers: the index check, then affected_set; seconds of
    the check alone and of both. The check must find nothing (the index is the ledger's)."""
    start, end = window()
    t0 = time.perf_counter()
    wrong = index_check.check_scope(conn, subject, start, end)
    checked = time.perf_counter()
    investigation.affected_set(conn, subject, start, end, with_states=False, catch_up=False)
    done = time.perf_counter()
    assert wrong == [], wrong[:3]
    return checked - t0, done - t0
