"""Try statements as a role and say which ones the database let through (tests/security)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import errors, sql

SERVICES = ("identity", "booking", "notification", "audit")
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def as_role(url: str, role: str) -> str:
    """The same database, logged in as `role` (the test server trusts local connections)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{role}@{rest.partition('@')[2]}"


@dataclass(frozen=True)
class Attempt:
    """One statement tried as one role, and what the server answered."""

    statement: str
    refused: bool  # InsufficientPrivilege (a missing grant, or the append-only trigger)
    answer: str  # "ok", or the error class and its first line

    def __str__(self) -> str:
        return f"{self.statement!r} -> {self.answer}"


def attempt(conn: psycopg.Connection, statement: sql.Composable | str) -> Attempt:
    """Run `statement` in a transaction that is always rolled back: nothing is ever changed.

    Only InsufficientPrivilege counts as refused. Any other error (a NOT NULL violation, a
    bad argument) means the privilege check passed, which is what these tests look for.
    """
    text = statement if isinstance(statement, str) else statement.as_string(conn)
    try:
        conn.execute(text)
    except errors.InsufficientPrivilege as exc:
        conn.rollback()
        return Attempt(text, True, f"InsufficientPrivilege: {str(exc).splitlines()[0]}")
    except psycopg.Error as exc:
        conn.rollback()
        return Attempt(text, False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    conn.rollback()
    return Attempt(text, False, "ok")


def user_schemas(conn: psycopg.Connection) -> list[str]:
    """Every schema of the database but PostgreSQL's own: new ones are covered by themselves."""
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname <> ALL(%s) AND nspname NOT LIKE 'pg\\_%%'"
        " ORDER BY 1",
        (list(SYSTEM_SCHEMAS),),
    ).fetchall()
    return [r[0] for r in rows]


def tables_in(conn: psycopg.Connection, schemas: Iterable[str]) -> list[tuple[str, str, str]]:
    """(schema, table, a plain column) of every table, view and materialized view there.

    A plain column (not generated, not an identity): updating one of those fails on the
    column's nature before any privilege is checked, which would hide a wrong grant.
    """
    rows = conn.execute(
        "SELECT n.nspname, c.relname, (SELECT a.attname FROM pg_attribute a"
        "   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        "     AND a.attidentity = '' AND a.attgenerated = '' ORDER BY a.attnum LIMIT 1)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = ANY(%s) ORDER BY 1, 2",
        (list(schemas),),
    ).fetchall()
    return [(s, t, c) for s, t, c in rows]


def plain_columns(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """Every column a statement may name (identity and generated ones excluded)."""
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped AND attidentity = '' AND attgenerated = '' ORDER BY attnum",
        (sql.Identifier(schema, table).as_string(conn),),
    ).fetchall()
    return [r[0] for r in rows]


def routines_in(conn: psycopg.Connection, schemas: Iterable[str]) -> list[tuple[str, str, str]]:
    """(kind, qualified name, argument types) of every function and procedure there."""
    rows = conn.execute(
        "SELECT p.prokind, quote_ident(n.nspname) || '.' || quote_ident(p.proname),"
        " coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY i)"
        "   FROM unnest(p.proargtypes) WITH ORDINALITY AS u(t, i)), '')"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = ANY(%s) ORDER BY 2",
        (list(schemas),),
    ).fetchall()
    return [(k, name, args) for k, name, args in rows]


def table_statements(schema: str, table: str, column: str) -> list[sql.Composed]:
    """Read, write and destroy one table: each must be refused outside the role's own schema."""
    t = sql.Identifier(schema, table)
    c = sql.Identifier(column)
    return [
        sql.SQL("SELECT * FROM {} LIMIT 1").format(t),
        sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t),
        sql.SQL("UPDATE {} SET {} = {}").format(t, c, c),
        sql.SQL("DELETE FROM {}").format(t),
        sql.SQL("TRUNCATE {}").format(t),
    ]


def routine_call(kind: str, name: str, args: str) -> str:
    """A call with NULL arguments: enough for the privilege check, which comes first."""
    nulls = ", ".join(f"NULL::{a}" for a in args.split(",")) if args else ""
    return f"CALL {name}({nulls})" if kind == "p" else f"SELECT {name}({nulls})"


def evidence_tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """Tables guarded by carnet.refuse_event_change: the events tables, ledger, checkpoints."""
    rows = conn.execute(
        "SELECT DISTINCT n.nspname, c.relname FROM pg_trigger g"
        " JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE g.tgfoid = 'carnet.refuse_event_change()'::regprocedure ORDER BY 1, 2"
    ).fetchall()
    return [(s, t) for s, t in rows]
