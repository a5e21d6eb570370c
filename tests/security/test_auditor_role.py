"""The verifier's role (#20, item 6): carnet_auditor reads what verify reads and nothing else,
and writes nothing anywhere; the whole verify runs as it.

Every statement is tried for real on the catalog's tables, in a transaction always rolled back.
"""

from __future__ import annotations

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.verify import verify_database
from services.common.config import AUDITOR, service_database_url
from tests.security.db_privileges import SERVICES, attempt, table_statements, tables_in

# What verify reads: the ledger and its heads, the access index it derives again, each store.
READABLE = {(s, "events") for s in SERVICES} | {
    ("audit", t)
    for t in ("ledger", "checkpoints", "access_requests", "access_entries", "access_targets",
              "projection_positions")
}  # fmt: skip


@pytest.fixture(scope="module")
def auditor(migrated_database_url: str) -> str:
    return service_database_url(migrated_database_url, AUDITOR, {})


def test_the_auditor_reads_what_verify_reads_and_writes_nothing(migrated_database_url, auditor):
    with psycopg.connect(migrated_database_url) as admin:
        tables = tables_in(admin, [*SERVICES, "carnet"])
    assert {(s, t) for s, t, _ in tables} >= READABLE
    wrong = []
    with psycopg.connect(auditor) as conn:
        for schema, table, column in tables:
            select, *changes = table_statements(schema, table, column)
            read = attempt(conn, select)
            if read.refused == ((schema, table) in READABLE):
                wrong.append(f"{read} (readable: {(schema, table) in READABLE})")
            wrong += [str(a) for a in (attempt(conn, c) for c in changes) if not a.refused]
    assert wrong == [], "\n".join(wrong)


def test_the_auditor_is_no_superuser_and_verify_runs_as_it(auditor):
    with psycopg.connect(auditor) as conn:
        flags = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()
        member_of = conn.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
            " WHERE r.rolname = current_user"
        ).fetchone()[0]
    assert flags == (False, False, False, False) and member_of == 0
    keys = {"auditor-test": Ed25519PrivateKey.generate().public_key()}
    report = verify_database(auditor, keys, grace_seconds=0)
    assert not [f for f in report.findings if f.kind == "source_unreadable"], report.findings
