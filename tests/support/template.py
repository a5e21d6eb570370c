"""A migrated template database, cloned for each test database instead of migrating it again.

Migrating takes a second or more and the suite needs ~50 migrated databases; `CREATE DATABASE
… TEMPLATE` copies one in a fraction of that (procrastinate's tests do the same). The template
is named after a hash of deploy/migrations and of the code that applies them, so a stale one
is never cloned. It refuses connections: CREATE DATABASE fails while anyone is connected to
its template, and nothing has a reason to connect to it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from services.common.eventstore import migrate as migrate_module
from services.common.eventstore.migrate import migrate, migrations_dir
from tests.support.poll import eventually

PREFIX = "carnet_template_"
# pg_advisory_lock(class, hash): one class for building a template, one for using it.
BUILDING, IN_USE = 0x43A1, 0x43A2
Conn = psycopg.Connection[Any]


def migrations_hash() -> str:
    """16 hex digits over every migration file and the module that applies them."""
    digest = hashlib.sha256()
    files = sorted(p for p in migrations_dir().iterdir() if p.is_file())
    for path in [*files, Path(migrate_module.__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _lock_key(digest: str) -> int:
    """A migrations hash as a signed 32-bit advisory-lock key."""
    return int(digest[:8], 16) - 2**31


def _run(conn: Conn, statement: str, *names: str) -> None:
    """One DDL statement on databases `names` (quoted as identifiers)."""
    conn.execute(sql.SQL(statement).format(*(sql.Identifier(n) for n in names)))


def _renamed(conn: Conn, old: str, new: str) -> bool:
    """Rename, once the server has let go of the migration's connections (closing is async)."""
    try:
        _run(conn, "ALTER DATABASE {} RENAME TO {}", old, new)
    except psycopg.errors.ObjectInUse:
        return False
    return True


def _build(conn: Conn, url_for: Callable[[str], str], name: str) -> None:
    """Migrate under a name of its own, then rename: `name` only ever holds a whole template."""
    building = f"carnet_building_{uuid.uuid4().hex[:12]}"
    _run(conn, "CREATE DATABASE {}", building)
    try:
        migrate(url_for(building))
        _run(conn, "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", building)
        eventually(lambda: _renamed(conn, building, name), 30, f"{building} to be released")
    finally:
        _run(conn, "DROP DATABASE IF EXISTS {} WITH (FORCE)", building)  # none once renamed


def _prune(conn: Conn, keep: str) -> None:
    """Drop the templates of other migrations that no session (another checkout) still uses."""
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
        (f"{PREFIX}%", keep),
    ).fetchall()
    for (name,) in rows:
        key = _lock_key(name.removeprefix(PREFIX))
        if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (IN_USE, key)).fetchone()[0]:
            try:
                _run(conn, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (IN_USE, key))


def hold_template(admin_url: str, url_for: Callable[[str], str]) -> tuple[str, Conn]:
    """The template's name, built if missing, and a connection to the admin database holding
    the shared lock that keeps other sessions from dropping it: close it when done."""
    digest = migrations_hash()
    name, key = f"{PREFIX}{digest}", _lock_key(digest)
    conn = psycopg.connect(admin_url, autocommit=True)
    try:
        conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (IN_USE, key))
        # One session builds while the others wait for it, then find the template there.
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (BUILDING, key))
        try:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                _build(conn, url_for, name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (BUILDING, key))
        _prune(conn, keep=name)
    except BaseException:
        conn.close()
        raise
    return name, conn


def clone(conn: Conn, template: str, name: str) -> None:
    """CREATE DATABASE `name` from the template, with the template's database-level grants.

    Privileges on a database live in the cluster's catalog, not in the database, so a clone
    starts with PostgreSQL's defaults (PUBLIC may connect). Migration 0001 revoked those and
    granted CONNECT to each service role; the same is done here, from the template's ACL.
    """
    _run(conn, "CREATE DATABASE {} TEMPLATE {}", name, template)
    acl = conn.execute("SELECT datacl FROM pg_database WHERE datname = %s", (template,))
    if acl.fetchone()[0] is None:  # the defaults, as the clone already has them
        return
    grants = conn.execute(
        "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN NULL"
        " ELSE pg_get_userbyid(a.grantee) END"
        " FROM pg_database d, aclexplode(d.datacl) a"
        " WHERE d.datname = %s AND a.grantee <> d.datdba",
        (template,),
    ).fetchall()
    _run(conn, "REVOKE ALL ON DATABASE {} FROM PUBLIC", name)
    for privilege, role in grants:
        grantee = sql.SQL("PUBLIC") if role is None else sql.Identifier(role)
        conn.execute(
            sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                sql.SQL(privilege), sql.Identifier(name), grantee
            )
        )
