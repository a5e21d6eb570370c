"""Apply deploy/migrations with yoyo: the shared `carnet` pieces, then each service's store."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

from services.common.config import AUDITOR, SERVICES

# Migration ids read `NNNN_<scope>_<what>`; the `carnet` scope is applied for every service.
BASE_SCOPE = "carnet"
# yoyo keeps its bookkeeping (applied migrations, lock) in the `carnet` schema, not `public`.
BOOKKEEPING_SCHEMA = "carnet"
LOCK_TIMEOUT_S = 120


def migrations_dir() -> Path:
    """deploy/migrations of this checkout or image, unless CARNET_MIGRATIONS_DIR says otherwise."""
    override = os.environ.get("CARNET_MIGRATIONS_DIR")
    return (
        Path(override)
        if override
        else Path(__file__).resolve().parents[3] / "deploy" / "migrations"
    )


def role_for(service: str) -> str:
    """The PostgreSQL role a service connects as."""
    return f"carnet_{service}"


def migration_scope(migration_id: str) -> str:
    """`0003_booking_event_store` -> `booking`: which service a migration belongs to."""
    parts = migration_id.split("_")
    if len(parts) < 3 or not parts[0].isdigit():
        raise ValueError(f"migration {migration_id!r} is not named NNNN_<scope>_<what>")
    return parts[1]


def migrate(database_url: str, services: Sequence[str] = SERVICES) -> None:
    """Bring the database up to date for `services`; safe to run again, and concurrently."""
    services = tuple(services)
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services: {sorted(unknown)}")
    _ensure_bookkeeping_schema(database_url)
    wanted = {BASE_SCOPE, *services}
    backend = get_backend(_yoyo_uri(database_url))
    try:
        every = read_migrations(str(migrations_dir()))
        for m in every:
            if migration_scope(m.id) not in {BASE_SCOPE, *SERVICES}:
                raise ValueError(f"migration {m.id!r}: unknown scope")
        selected = MigrationList(m for m in every if migration_scope(m.id) in wanted)
        # Decide what to apply only once the lock is held: another process may be migrating.
        with backend.lock(timeout=LOCK_TIMEOUT_S):
            backend.apply_migrations(backend.to_apply(selected))
    finally:
        backend.connection.close()
    # The verifier's read-only role comes with audit's migrations (0027).
    roles = (*services, AUDITOR) if "audit" in services else services
    set_role_passwords(database_url, roles, os.environ)


def set_role_passwords(database_url: str, services: Sequence[str], env: Mapping[str, str]) -> None:
    """Set carnet_<service>'s password from <SERVICE>_DB_PASSWORD, when that is set."""
    wanted = {
        s: env[f"{s.upper()}_DB_PASSWORD"] for s in services if env.get(f"{s.upper()}_DB_PASSWORD")
    }
    if not wanted:
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        for service, password in wanted.items():
            role = role_for(service)
            # Hashed client-side (SCRAM), so the clear password never reaches the server's logs.
            hashed = conn.pgconn.encrypt_password(password.encode(), role.encode()).decode()
            stmt = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(hashed)
            )
            _retry_concurrent_catalog_update(lambda s=stmt: conn.execute(s))


def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if missing (via `postgres` on the same server)."""
    name = conninfo_to_dict(database_url).get("dbname")
    if not name:
        raise ValueError("the database URL names no database")
    admin = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
        except psycopg.errors.DuplicateDatabase:
            return False  # created by a concurrent run in the meantime
    return True


def _ensure_bookkeeping_schema(database_url: str) -> None:
    """yoyo needs its schema before its first query; 0001 then owns the rest of `carnet`."""
    # A concurrent run may create it between the existence check and the insert.
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        contextlib.suppress(psycopg.errors.UniqueViolation),
    ):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BOOKKEEPING_SCHEMA}")


def _yoyo_uri(database_url: str) -> str:
    """The same URL for yoyo's psycopg 3 backend, with its tables in the bookkeeping schema."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        raise ValueError("expected a postgresql:// URL")
    query = dict(parse_qsl(parts.query))
    query.setdefault("schema", BOOKKEEPING_SCHEMA)
    query.setdefault("application_name", "carnet-migrate")
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), ""))


def _retry_concurrent_catalog_update(run: Callable[[], object], attempts: int = 5) -> None:
    """ALTER ROLE touches a cluster-wide row: two migrations at once may clash; try again."""
    for attempt in range(attempts):
        try:
            run()
            return
        except psycopg.errors.InternalError_:
            if attempt == attempts - 1:
                raise
