"""The tamper table's long form (#20): docs/audit.md's cases on the ledger a chaos run produced.

The short form is `tests/integration/audit/test_tamper*.py`, on ledgers of a few dozen rows.
Here each case tampers, as the cluster's superuser with triggers off, with a fresh copy of the
database the run left (thousands of rows of real traffic, heads signed while faults struck),
and `verify` must name it with the expected first bad seq. Cases that need material the run did
not leave fail as "enough material to tamper with".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg.types.json import Jsonb

from services.audit import ledger
from services.audit.canonical import entry_hash
from services.audit.verify import VerifyReport, verify_database

Statements = list[tuple[str, tuple[Any, ...]]]
_INSERT = f"INSERT INTO audit.ledger ({ledger.ENTRY_COLUMNS}) VALUES ({', '.join(['%s'] * 15)})"
_COLUMNS = [c.strip() for c in ledger.ENTRY_COLUMNS.split(",")]


@dataclass(frozen=True)
class Material:
    """Where to tamper: the ledger's size, its heads, a booking row some head covers, an
    indexed read."""

    size: int
    heads: list[int]
    covered: int  # the newest booking row a signed head covers
    read: int  # an indexed, served access record

    @property
    def covering(self) -> list[int]:
        """The heads that cover `covered`."""
        return [h for h in self.heads if h >= self.covered]


def _material(conn: psycopg.Connection) -> tuple[Material | None, str]:
    """What the run left to tamper with, or why it is not enough."""
    heads = [r[0] for r in conn.execute("SELECT DISTINCT tree_size FROM audit.checkpoints"
                                        " ORDER BY 1").fetchall()]  # fmt: skip
    size = conn.execute("SELECT coalesce(max(seq), 0) FROM audit.ledger").fetchone()[0]
    covered = conn.execute(
        "SELECT max(seq) FROM audit.ledger WHERE source_service = 'booking'"
        " AND event_type <> 'AppointmentsAccessed' AND seq <= %s AND seq < %s",
        (max(heads, default=0), size),  # not the last row: deleting it leaves no gap
    ).fetchone()[0]
    read = conn.execute(
        "SELECT max(seq) FROM audit.access_requests WHERE outcome = 'success'"
    ).fetchone()[0]
    if covered is None or covered < 2 or read is None:
        return None, f"{len(heads)} heads, booking row covered {covered}, indexed read {read}"
    return Material(size, heads, covered, read), ""


def _rows(conn: psycopg.Connection, from_seq: int) -> list[dict[str, Any]]:
    with conn.transaction():
        return [dict(r) for r in ledger.iter_entries(conn, after=from_seq - 1)]


def _rewrite(conn: psycopg.Connection, seq: int, source_too: bool) -> Statements:
    """Row `seq`'s payload changed, it and every later row re-hashed consistently; with
    `source_too`, booking's store changed the same way (a forgery everywhere)."""
    rows = _rows(conn, seq - 1)
    prev, out = bytes(rows[0]["entry_hash"]), [("DELETE FROM audit.ledger WHERE seq >= %s", (seq,))]
    for row in rows[1:]:
        if row["seq"] == seq:
            row["payload"] = {**row["payload"], "note": "forged"}
            if source_too:
                out.append(("UPDATE booking.events SET data = %s WHERE event_id = %s",
                            (Jsonb(row["payload"]), row["event_id"])))  # fmt: skip
        row["prev_hash"], row["entry_hash"] = prev, entry_hash(prev, row)
        prev = row["entry_hash"]
        out.append((_INSERT, tuple(Jsonb(row[c]) if c in ("payload", "metadata") else row[c]
                                   for c in _COLUMNS)))  # fmt: skip
    return out


def _forged_tail(conn: psycopg.Connection, m: Material) -> Statements:
    last = _rows(conn, m.size)[0]
    forged = {**last, "seq": m.size + 1, "event_id": uuid.uuid4(), "prev_hash": last["entry_hash"]}
    forged["entry_hash"] = entry_hash(bytes(forged["prev_hash"]), forged)
    return [(_INSERT, tuple(Jsonb(forged[c]) if c in ("payload", "metadata") else forged[c]
                            for c in _COLUMNS))]  # fmt: skip


def _head_range_start(m: Material, seq: int) -> int:
    """The first row of the smallest head covering `seq` that no smaller head covers."""
    return max([h for h in m.heads if h < seq], default=0) + 1


def _edit_payload(c: psycopg.Connection, m: Material) -> Statements:
    return [("UPDATE audit.ledger SET payload = payload || '{\"x\": 1}' WHERE seq = %s",
             (m.covered,))]  # fmt: skip


def _delete_row(c: psycopg.Connection, m: Material) -> Statements:
    return [("DELETE FROM audit.ledger WHERE seq = %s", (m.covered,))]


def _rewrite_uncovered(c: psycopg.Connection, m: Material) -> Statements:
    """The run checkpoints its whole ledger before it stops: delete the heads covering the row
    first, so the rewritten rows are covered by none (what only the sources or a witness see)."""
    drop = [("DELETE FROM audit.checkpoints WHERE tree_size >= %s", (m.covered,))]
    return drop + _rewrite(c, m.covered, False)


def _forge_everywhere(c: psycopg.Connection, m: Material) -> Statements:
    return _rewrite(c, m.covered, True)


def _blame_other(c: psycopg.Connection, m: Material) -> Statements:
    return [("UPDATE audit.access_requests SET principal_id = %s WHERE seq = %s",
             (uuid.uuid4(), m.read))]  # fmt: skip


def _delete_read(c: psycopg.Connection, m: Material) -> Statements:
    return [("DELETE FROM audit.access_entries WHERE seq = %s", (m.read,)),
            ("DELETE FROM audit.access_requests WHERE seq = %s", (m.read,))]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """Statements on the copy, the first bad seq verify must name, a kind it must report."""

    make: Callable[[psycopg.Connection, Material], Statements]
    first_bad: Callable[[Material], int]
    kind: str


CASES: Mapping[str, Case] = {
    "payload edited": Case(_edit_payload, lambda m: m.covered, "hash_mismatch"),
    "row deleted": Case(_delete_row, lambda m: m.covered, "gap"),
    "forged row at the end, valid hash": Case(_forged_tail, lambda m: m.size + 1, "invented"),
    "heads over a row deleted, the row rewritten": Case(
        _rewrite_uncovered, lambda m: m.covered, "altered"
    ),
    "consistent forgery in ledger and source, under a head": Case(
        _forge_everywhere, lambda m: _head_range_start(m, m.covered), "checkpoint_root_mismatch"
    ),
    "index row edited (blamed on another principal)": Case(
        _blame_other, lambda m: m.read, "index_altered"
    ),
    "index row deleted": Case(_delete_read, lambda m: m.read, "index_missing"),
}


def _copy(admin: str, base: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base}"')
    return admin.rpartition("/")[0] + f"/{name}"


def _drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tamper_check(url: str, keys: dict[str, Ed25519PublicKey]) -> dict[str, bool]:
    """Case -> whether verify named it at its first bad seq (on a copy of the run's database,
    which must itself verify clean: "untouched copy verifies")."""
    base, admin = url.rpartition("/")[2], url.rpartition("/")[0] + "/postgres"
    with psycopg.connect(url) as conn:
        m, why = _material(conn)
    if m is None:
        return {f"enough material to tamper with ({why})": False}

    def verified(statements: Statements) -> VerifyReport:
        copy = _copy(admin, base, f"{base}_tamper_{uuid.uuid4().hex[:8]}")
        try:
            with psycopg.connect(copy, autocommit=True) as conn, conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                for statement, params in statements:
                    conn.execute(statement, params)
            return verify_database(copy, keys, grace_seconds=0.0)
        finally:
            _drop(admin, copy.rpartition("/")[2])

    out = {"untouched copy verifies": verified([]).ok}
    for name, case in CASES.items():
        with psycopg.connect(url) as conn:
            statements = case.make(conn, m)
        report = verified(statements)
        kinds = {f.kind for f in report.findings}
        named = report.first_bad_seq == case.first_bad(m)
        out[name] = not report.ok and named and case.kind in kinds
    return out
