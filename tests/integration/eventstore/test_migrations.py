"""Migrations: idempotent; a schema and a role per service; events append-only for everyone."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql

from services.common.config import SERVICES
from services.common.eventstore import EventStore, LogCursor
from services.common.eventstore import migrate as migrate_module
from services.common.eventstore.migrate import migrate, migrations_dir
from tests.support.eventstore import as_role, connect, event, stream
from tests.support.infra import create_database, drop_database
from tests.support.poll import eventually

FORBIDDEN = [
    "UPDATE {}.events SET event_type = 'Forged'",
    "DELETE FROM {}.events",
    "TRUNCATE {}.events",
]


# Every file under deploy/migrations, in the order yoyo applies them.
ALL_MIGRATIONS = sorted(p.stem for p in migrations_dir().glob("*.sql"))


@pytest.fixture(scope="module")
def migrated_database_url() -> Iterator[str]:
    """Migrated here, not cloned from the suite's template: migrating is this module's subject."""
    url = create_database()
    migrate(url)
    yield url
    drop_database(url)


def _applied(url: str) -> list[str]:
    with connect(url) as conn:
        rows = conn.execute("SELECT migration_id FROM carnet._yoyo_migration ORDER BY 1")
        return [r[0] for r in rows]


def test_migrating_twice_changes_nothing(fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    first = _applied(fresh_database_url)
    migrate(fresh_database_url)
    assert _applied(fresh_database_url) == first
    assert first[0] == "0001_carnet_base"
    assert first == ALL_MIGRATIONS


def test_concurrent_migrations_apply_everything_once(fresh_database_url: str) -> None:
    """Replicas starting together all migrate: yoyo's lock makes the others wait."""
    errors_seen: list[BaseException] = []

    def run() -> None:
        try:
            migrate(fresh_database_url)
        except BaseException as exc:
            errors_seen.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors_seen == []
    assert _applied(fresh_database_url) == ALL_MIGRATIONS


def test_a_subset_of_services_gets_only_its_schemas(fresh_database_url: str) -> None:
    migrate(fresh_database_url, ["booking"])
    with connect(fresh_database_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert {"carnet", "booking"} <= schemas
    assert not schemas & {"identity", "notification", "audit"}
    migrate(fresh_database_url)  # the rest can follow later
    assert _applied(fresh_database_url) == ALL_MIGRATIONS


ONE = "{}.append_one(text, int4, uuid, text, int4, jsonb, jsonb)"


def test_every_store_has_the_one_event_append_made_before_or_after_0034(
    fresh_database_url: str,
) -> None:
    migrate(fresh_database_url, ["booking"])  # booking's store made before 0034 ran
    migrate(fresh_database_url)  # identity, notification, audit's made after, by the wrapper
    with connect(fresh_database_url) as conn:
        for service in SERVICES:
            (found,) = conn.execute("SELECT to_regprocedure(%s)", (ONE.format(service),)).fetchone()
            assert found is not None, service
            (allowed,) = conn.execute(
                "SELECT has_function_privilege(%s, %s, 'EXECUTE')",
                (f"carnet_{service}", ONE.format(service)),
            ).fetchone()
            assert allowed
            others = [f"carnet_{o}" for o in SERVICES if o != service]
            assert not any(
                conn.execute(
                    "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (o, ONE.format(service))
                ).fetchone()[0]
                for o in others
            )


def test_each_service_has_its_tables_and_login_role(migrated_database_url: str) -> None:
    with connect(migrated_database_url) as conn:
        for service in SERVICES:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s", (service,)
                )
            }
            assert tables >= {"events", "processed_events", "relay_position"}
            (login,) = conn.execute(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (f"carnet_{service}",)
            ).fetchone()
            assert login


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("statement", FORBIDDEN)
def test_even_the_superuser_cannot_change_an_events_table(
    migrated_database_url: str, service: str, statement: str
) -> None:
    EventStore(lambda: connect(migrated_database_url), service).append(
        stream(), [event()], expected_version=0
    )
    with connect(migrated_database_url) as conn:
        (superuser,) = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser
        with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
            conn.execute(sql.SQL(statement).format(sql.Identifier(service)))


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_a_service_role_cannot_change_its_events_either(
    migrated_database_url: str, statement: str
) -> None:
    with (
        connect(as_role(migrated_database_url, "carnet_booking")) as conn,
        pytest.raises(errors.InsufficientPrivilege, match="permission denied"),
    ):
        conn.execute(sql.SQL(statement).format(sql.Identifier("booking")))


def test_a_service_role_appends_and_reads_only_its_own_store(migrated_database_url: str) -> None:
    booking_url = as_role(migrated_database_url, "carnet_booking")
    booking = EventStore(lambda: connect(booking_url), "booking")
    s = stream()
    result = booking.append(s, [event(), event()], expected_version=0)
    assert booking.append(s, [event()], expected_version=2).stream_version == 3
    assert [e.stream_version for e in booking.read_stream(s)] == [1, 2, 3]
    # Readable once no older writing transaction runs anywhere on the server (ADR 0003).
    assert eventually(lambda: booking.read_all(LogCursor(0, result.positions[0] - 1)), 30)
    with connect(booking_url) as conn:
        conn.execute(
            "INSERT INTO booking.processed_events (consumer, event_id) VALUES (%s, %s)",
            ("test", uuid.uuid4()),
        )
        conn.execute("INSERT INTO booking.relay_position (relay) VALUES (%s)", (s,))
        conn.execute("UPDATE booking.relay_position SET position = 1 WHERE relay = %s", (s,))
        conn.execute("DELETE FROM booking.relay_position WHERE relay = %s", (s,))
    for stmt in [
        "SELECT * FROM identity.events",
        "SELECT * FROM audit.processed_events",
        "INSERT INTO notification.relay_position (relay) VALUES ('x')",
    ]:
        with connect(booking_url) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(stmt)


def test_a_service_cannot_forge_its_place_in_the_log(migrated_database_url: str) -> None:
    with (
        connect(as_role(migrated_database_url, "carnet_booking")) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(
            "INSERT INTO booking.events (transaction_id, stream_id, stream_version, event_id,"
            " event_type, schema_version, data) VALUES ('1', 's', 1, %s, 't', 1, '{}')",
            (uuid.uuid4(),),
        )


def test_nothing_is_granted_to_public(migrated_database_url: str) -> None:
    with connect(migrated_database_url) as conn:
        (connect_ok,) = conn.execute(
            "SELECT has_database_privilege('public', current_database(), 'CONNECT')"
        ).fetchone()
        assert not connect_ok
        for service in SERVICES:
            usage = conn.execute(
                "SELECT has_schema_privilege('public', %s, 'USAGE')", (service,)
            ).fetchone()
            assert usage == (False,)


def test_role_passwords_come_from_the_environment(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a throwaway role: carnet_<service> roles are shared by every database here."""
    role = f"carnet_pwtest_{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(migrate_module, "role_for", lambda service: role)
    with connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        try:
            migrate_module.set_role_passwords(
                fresh_database_url, ["booking", "audit"], {"BOOKING_DB_PASSWORD": "not-a-secret"}
            )
            (stored,) = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
            ).fetchone()
            assert stored.startswith("SCRAM-SHA-256$")
            assert "not-a-secret" not in stored
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_database_is_created_when_missing(fresh_database_url: str) -> None:
    missing = f"{fresh_database_url}_new"
    try:
        assert migrate_module.ensure_database(missing)
        assert not migrate_module.ensure_database(missing)
        with psycopg.connect(missing) as conn:
            conn.execute("SELECT 1")
    finally:
        with connect(fresh_database_url.rpartition("/")[0] + "/postgres", autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(missing.rpartition("/")[2])
                )
            )
