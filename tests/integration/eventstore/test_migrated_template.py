"""The suite's migrated template: a clone is the migrated database, and a stale one goes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.common.eventstore.migrate import migrate, migrations_dir
from tests.support.infra import PG_ADMIN_URL, create_database, drop_database
from tests.support.template import IN_USE, PREFIX, _lock_key, _prune, migrations_hash

# What a database holds that a service depends on: its schema, every grant, its own ACL.
CATALOG = {
    "columns": "SELECT table_schema, table_name, column_name, data_type, is_nullable,"
    " column_default FROM information_schema.columns WHERE table_schema !~ '^(pg_|information)'",
    "table grants": "SELECT grantee, table_schema, table_name, privilege_type"
    " FROM information_schema.role_table_grants WHERE table_schema !~ '^(pg_|information)'",
    "column grants": "SELECT grantee, table_schema, table_name, column_name, privilege_type"
    " FROM information_schema.column_privileges WHERE table_schema !~ '^(pg_|information)'",
    "routine grants": "SELECT grantee, routine_schema, routine_name, privilege_type"
    " FROM information_schema.routine_privileges WHERE routine_schema !~ '^(pg_|information)'",
    "schemas": "SELECT nspname, nspacl::text FROM pg_namespace",
    "indexes": "SELECT schemaname, indexname, indexdef FROM pg_indexes",
    "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal",
    "sequences": "SELECT schemaname, sequencename, last_value FROM pg_sequences",
    "database": "SELECT a.privilege_type, pg_get_userbyid(a.grantee) FROM pg_database d,"
    " aclexplode(d.datacl) a WHERE d.datname = current_database()",
    "migrations": "SELECT migration_id FROM carnet._yoyo_migration",
}


def catalog(url: str) -> dict[str, list[Any]]:
    with psycopg.connect(url) as conn:
        return {k: sorted(conn.execute(q).fetchall(), key=repr) for k, q in CATALOG.items()}


def test_a_clone_of_the_template_is_the_migrated_database(migrated_template: str) -> None:
    migrated, cloned = create_database(), create_database(template=migrated_template)
    try:
        migrate(migrated)
        assert catalog(cloned) == catalog(migrated)
    finally:
        drop_database(migrated)
        drop_database(cloned)


def test_a_changed_migration_changes_the_templates_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    monkeypatch.setenv("CARNET_MIGRATIONS_DIR", str(copy))
    before = migrations_hash()
    (copy / "9999_carnet_later.sql").write_text("SELECT 1;\n")
    assert migrations_hash() != before


def test_a_template_of_other_migrations_is_dropped_unless_a_session_holds_it() -> None:
    other = "0123456789abcdef"
    name = f"{PREFIX}{other}"
    with (
        psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin,
        psycopg.connect(PG_ADMIN_URL, autocommit=True) as session,
    ):
        admin.execute(f'CREATE DATABASE "{name}"')
        exists = "SELECT count(*) FROM pg_database WHERE datname = %s"
        try:
            session.execute("SELECT pg_advisory_lock_shared(%s, %s)", (IN_USE, _lock_key(other)))
            _prune(admin, keep=f"{PREFIX}{migrations_hash()}")
            assert admin.execute(exists, (name,)).fetchone() == (1,)  # in use: kept
            session.execute("SELECT pg_advisory_unlock_all()")
            _prune(admin, keep=f"{PREFIX}{migrations_hash()}")
            assert admin.execute(exists, (name,)).fetchone() == (0,)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
