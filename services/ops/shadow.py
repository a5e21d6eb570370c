"""Shadow tables beside the live ones: created alike, filled, then renamed into place.

A shadow is `<table>__rebuild`, made `LIKE <table> INCLUDING ALL` (columns, defaults, checks,
indexes), with the live table's owner, grants and foreign keys among the projection's tables.
The swap renames live -> `__old`, shadow -> live, gives each index the live index's name and
each live trigger to the new table (none fires while a shadow fills), and drops the old tables,
all in the caller's transaction: readers see the old rows or the new, never a mix. The
rebuild's progress lives in `<schema>.<projection>__rebuild_state`, so an interrupted rebuild
resumes where its last committed batch left it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection, sql

from services.common.projections.spec import Cursor, Projection

SUFFIX = "__rebuild"
OLD_SUFFIX = "__old"


@dataclass(frozen=True)
class State:
    """How far a shadow has been filled."""

    cursor: Cursor
    applied: int
    scanned: int
    fingerprint: str
    started_at: datetime
    updated_at: datetime


def split(table: str) -> tuple[str, str]:
    """('schema', 'name') of a schema-qualified table."""
    schema, _, name = table.partition(".")
    return schema, name


def shadow_of(table: str) -> str:
    """The shadow's qualified name."""
    return f"{table}{SUFFIX}"


def state_table(projection: Projection) -> str:
    """Where the rebuild of `projection` keeps its cursor (one row)."""
    short = projection.name.split(".", 1)[-1].replace(".", "_")
    return f"{projection.schema}.{short}{SUFFIX}_state"


def ident(table: str) -> sql.Identifier:
    """A qualified table name as a quoted identifier."""
    return sql.Identifier(*split(table))


def fingerprint(conn: Connection, projection: Projection) -> str:
    """A digest of the live tables' columns and indexes: a migration since the start changes it."""
    parts = []
    for table in projection.tables:
        columns = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (table,),
        ).fetchall()
        parts.append(repr((table, columns, sorted(_index_shapes(conn, table).values()))))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def load(conn: Connection, projection: Projection) -> State | None:
    """The rebuild's state, or None when no shadow exists."""
    exists = conn.execute("SELECT to_regclass(%s)", (state_table(projection),)).fetchone()
    if not exists or exists[0] is None:
        return None
    row = conn.execute(
        sql.SQL(
            "SELECT cursor, applied, scanned, fingerprint, started_at, updated_at FROM {}"
        ).format(ident(state_table(projection)))
    ).fetchone()
    return State(list(row[0]), row[1], row[2], row[3], row[4], row[5]) if row else None


def create(conn: Connection, projection: Projection, start: Cursor) -> State:
    """Make empty shadows of the live tables and a state row at `start`."""
    for table in projection.tables:
        shadow = shadow_of(table)
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(ident(shadow), ident(table))
        )
        owner = conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass", (table,)
        ).fetchone()
        conn.execute(
            sql.SQL("ALTER TABLE {} OWNER TO {}").format(ident(shadow), sql.Identifier(owner[0]))
        )
        _copy_grants(conn, table, shadow)
        _copy_foreign_keys(conn, table, shadow, projection.tables)
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (cursor jsonb NOT NULL, applied bigint NOT NULL, scanned bigint"
            " NOT NULL, fingerprint text NOT NULL, started_at timestamptz NOT NULL DEFAULT"
            " now(), updated_at timestamptz NOT NULL DEFAULT now())"
        ).format(ident(state_table(projection)))
    )
    conn.execute(
        sql.SQL("INSERT INTO {} (cursor, applied, scanned, fingerprint) VALUES (%s, 0, 0, %s)")
        .format(ident(state_table(projection))),
        (json.dumps(start), fingerprint(conn, projection)),
    )  # fmt: skip
    state = load(conn, projection)
    assert state is not None
    return state


def advance(conn: Connection, projection: Projection, cursor: Cursor, applied: int, scanned: int):
    """Record a batch: in the transaction that wrote its rows, so a resume never re-applies it."""
    conn.execute(
        sql.SQL(
            "UPDATE {} SET cursor = %s, applied = applied + %s, scanned = scanned + %s,"
            " updated_at = now()"
        ).format(ident(state_table(projection))),
        (json.dumps(cursor), applied, scanned),
    )


def drop(conn: Connection, projection: Projection) -> None:
    """Abandon a rebuild: its shadows and its state."""
    names = [shadow_of(t) for t in reversed(projection.tables)] + [state_table(projection)]
    for name in names:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(name)))


def shadow_rows(conn: Connection, projection: Projection) -> dict[str, int]:
    """Rows in each shadow so far."""
    count = sql.SQL("SELECT count(*) FROM {}")
    return {
        t: conn.execute(count.format(ident(shadow_of(t)))).fetchone()[0] for t in projection.tables
    }


def swap(conn: Connection, projection: Projection) -> None:
    """Rename the shadows into place, give them the live tables' triggers (a guard stays a
    guard), and drop the old tables (caller's transaction)."""
    for table in projection.tables:
        triggers = _trigger_definitions(conn, table)  # they name `table`: the shadow, soon
        live_indexes = _index_shapes(conn, table)
        shadow_indexes = _index_shapes(conn, shadow_of(table))
        schema, name = split(table)
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                ident(table), sql.Identifier(name + OLD_SUFFIX)
            )
        )
        for index, shape in live_indexes.items():
            conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(schema, index), sql.Identifier(_short(index + OLD_SUFFIX))
                )
            )
            twin = next(s for s, other in shadow_indexes.items() if other == shape)
            del shadow_indexes[twin]
            conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(schema, twin), sql.Identifier(index)
                )
            )
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                ident(shadow_of(table)), sql.Identifier(name)
            )
        )
        for definition in triggers:
            conn.execute(definition)
    for table in reversed(projection.tables):
        conn.execute(sql.SQL("DROP TABLE {}").format(ident(table + OLD_SUFFIX)))
    conn.execute(sql.SQL("DROP TABLE {}").format(ident(state_table(projection))))


def _trigger_definitions(conn: Connection, table: str) -> list[str]:
    """CREATE TRIGGER statements of the table's own triggers (not constraints' internal ones)."""
    rows = conn.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
        " WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def _short(name: str) -> str:
    """PostgreSQL truncates identifiers to 63 bytes; keep renames within it, and unique."""
    return name if len(name) <= 63 else name[:50] + hashlib.sha256(name.encode()).hexdigest()[:13]


def _index_shapes(conn: Connection, table: str) -> dict[str, str]:
    """Each index of `table` by name, with its definition minus its own and its table's names."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
        (table,),
    ).fetchall()
    return {name: re.sub(r"INDEX \S+ ON \S+ ", "INDEX ON ", text) for name, text in rows}


def _copy_grants(conn: Connection, table: str, shadow: str) -> None:
    """The roles that may use the live table may use its successor, and no others."""
    schema, name = split(table)
    grants = conn.execute(
        "SELECT grantee, string_agg(privilege_type, ', ') FROM information_schema.role_table_grants"
        " WHERE table_schema = %s AND table_name = %s AND grantee <> ("
        "  SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass)"
        " GROUP BY grantee",
        (schema, name, table),
    ).fetchall()
    for grantee, privileges in grants:
        allowed = sql.SQL(", ").join(sql.SQL(p) for p in privileges.split(", "))
        role = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee)
        conn.execute(sql.SQL("GRANT {} ON {} TO {}").format(allowed, ident(shadow), role))


def _copy_foreign_keys(conn: Connection, table: str, shadow: str, family: tuple[str, ...]) -> None:
    """Foreign keys between the projection's tables, pointed at the shadows."""
    rows = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid), confrelid::regclass::text FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,),
    ).fetchall()
    for name, definition, referenced in rows:
        if referenced not in family:
            raise ValueError(f"{table} references {referenced}, outside the projection")
        pointed = definition.replace(
            f"REFERENCES {referenced}(", f"REFERENCES {shadow_of(referenced)}("
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} " + pointed).format(
                ident(shadow), sql.Identifier(name)
            )
        )
