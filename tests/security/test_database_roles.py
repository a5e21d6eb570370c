"""Database roles (issue #10 part 6): a role reaches only its own schema; evidence is append-only.

Every statement is tried for real, logged in as the service's role, in a transaction that is
always rolled back. The tables, routines and schemas come from the catalog, so a table added by
a later migration is covered without touching this file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql

from services.audit import ledger, sequencer
from services.common.eventstore.store import EventStore
from tests.security.db_privileges import (
    SERVICES,
    as_role,
    attempt,
    evidence_tables,
    plain_columns,
    routine_call,
    routines_in,
    table_statements,
    tables_in,
    user_schemas,
)
from tests.support.events import new_event

EVENT_OF = {
    "identity": "PatientRegistered",
    "booking": "AppointmentBooked",
    "notification": "NotificationSent",
    "audit": "IncidentOpened",
}
EVIDENCE = {(s, "events") for s in SERVICES} | {("audit", "ledger"), ("audit", "checkpoints")}
CHANGES = ("UPDATE {t} SET {c} = {c}", "DELETE FROM {t}", "TRUNCATE {t}")


def role(service: str) -> str:
    return f"carnet_{service}"


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, connect_timeout=10)


def ledger_entry(db: str, source: str) -> ledger.IncomingEvent:
    """An event recorded in `source`'s store (as the superuser), as audit would receive it."""
    e = new_event(EVENT_OF[source])
    stream = f"test-{uuid.uuid4()}"
    EventStore(lambda: connect(db), source).append(stream, [e], expected_version=0)
    with connect(db) as conn:
        position, at = conn.execute(
            sql.SQL("SELECT position, recorded_at FROM {} WHERE event_id = %s").format(
                sql.Identifier(source, "events")
            ),
            (e.event_id,),
        ).fetchone()
    return ledger.IncomingEvent(
        event_id=e.event_id,
        source_service=source,
        source_position=position,
        stream_id=stream,
        stream_version=1,
        event_type=e.event_type,
        schema_version=e.schema_version,
        payload=e.data,
        metadata={"correlation_id": e.metadata.get("correlation_id", str(e.event_id))},
        occurred_at=at,
    )


def ledgered(conn: psycopg.Connection, event: ledger.IncomingEvent) -> int | None:
    """Stage and sequence the event on this connection, as audit's consumer does; its seq."""
    assert sequencer.stage(conn, [event])
    sequencer.sequence(conn)
    row = conn.execute(
        "SELECT seq FROM audit.ledger WHERE event_id = %s", (event.event_id,)
    ).fetchone()
    return row[0] if row else None


def insert_checkpoint(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO audit.checkpoints (checkpoint_id, tree_size, root_hash, signed_at,"
        " algorithm, key_id, signature) VALUES (%s, 1, %s, now(), 'Ed25519', 'test', %s)",
        (uuid.uuid4(), os.urandom(32), os.urandom(64)),
    )


@pytest.fixture(scope="module")
def db(migrated_database_url: str) -> Iterator[str]:
    """A migrated database with a row in every evidence table, written as the superuser."""
    for service in SERVICES:
        store = EventStore(lambda: connect(migrated_database_url), service)
        store.append(f"seed-{uuid.uuid4()}", [new_event(EVENT_OF[service])], expected_version=0)
    with connect(migrated_database_url) as conn:
        assert ledgered(conn, ledger_entry(migrated_database_url, "booking")) is not None
        insert_checkpoint(conn)
    yield migrated_database_url


def test_the_guarded_tables_are_every_events_table_the_ledger_and_its_checkpoints(db):
    with connect(db) as conn:
        guarded = set(evidence_tables(conn))
        tables = {(s, t) for s, t, _ in tables_in(conn, SERVICES)}
        enabled = conn.execute(
            "SELECT c.relnamespace::regnamespace::text || '.' || c.relname, g.tgenabled"
            " FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid"
            " WHERE g.tgfoid = 'carnet.refuse_event_change()'::regprocedure"
        ).fetchall()
    assert guarded == EVIDENCE
    assert {(s, t) for s, t in tables if t == "events"} == {(s, "events") for s in SERVICES}
    # 'O' fires in every ordinary session; 'D' (disabled) would silently open the table.
    assert enabled and {state for _, state in enabled} <= {"O", "A"}, enabled


@pytest.mark.parametrize("service", SERVICES)
def test_a_role_reaches_no_other_schema(db, service):
    """Every table, view and routine of every other schema, and creating one there: refused."""
    with connect(db) as admin:
        foreign = [s for s in user_schemas(admin) if s != service]
        tables = tables_in(admin, foreign)
        routines = routines_in(admin, foreign)
    assert {"carnet", *(s for s in SERVICES if s != service)} <= set(foreign)
    assert len(tables) > 20 and routines  # the catalog query found what it should
    statements: list[sql.Composable | str] = [
        stmt for schema, table, column in tables for stmt in table_statements(schema, table, column)
    ]
    statements += [routine_call(kind, name, args) for kind, name, args in routines]
    statements += [
        sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(s, "carnet_probe"))
        for s in foreign
    ]
    with connect(as_role(db, role(service))) as conn:
        tried = [attempt(conn, stmt) for stmt in statements]
    let_through = [str(a) for a in tried if not a.refused]
    assert let_through == [], f"{role(service)} reached another schema:\n" + "\n".join(let_through)


@pytest.mark.parametrize("service", SERVICES)
def test_a_role_cannot_change_or_unguard_its_own_evidence(db, service):
    """UPDATE, DELETE, TRUNCATE, disabling the trigger, dropping, forging the log position."""
    mine = sorted((s, t) for s, t in EVIDENCE if s == service)
    statements: list[sql.Composable | str] = []
    for schema, table in mine:
        t = sql.Identifier(schema, table)
        with connect(db) as admin:
            columns = plain_columns(admin, schema, table)
        assert len(columns) >= 5
        # every column: a grant on one column alone (UPDATE (metadata)) must not slip through
        statements += [
            sql.SQL(CHANGES[0]).format(t=t, c=sql.Identifier(column)) for column in columns
        ]
        statements += [sql.SQL(change).format(t=t) for change in CHANGES[1:]]
        statements += [
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER ALL").format(t),
            sql.SQL("DROP TABLE {}").format(t),
        ]
    events = sql.Identifier(service, "events")
    statements += [
        # position, transaction_id and recorded_at are the store's to assign
        sql.SQL(
            "INSERT INTO {} (position, stream_id, stream_version, event_id, event_type,"
            " schema_version, data) OVERRIDING SYSTEM VALUE VALUES (1, 's', 1, {}, 't', 1, '{{}}')"
        ).format(events, sql.Literal(str(uuid.uuid4()))),
        sql.SQL(
            "INSERT INTO {} (recorded_at, stream_id, stream_version, event_id, event_type,"
            " schema_version, data) VALUES ('2000-01-01Z', 's', 1, {}, 't', 1, '{{}}')"
        ).format(events, sql.Literal(str(uuid.uuid4()))),
        sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'position'), 1)").format(
            sql.Literal(f"{service}.events")
        ),
        # the one switch that skips ordinary triggers: superuser only
        "SET session_replication_role = replica",
    ]
    with connect(as_role(db, role(service))) as conn:
        tried = [attempt(conn, stmt) for stmt in statements]
    let_through = [str(a) for a in tried if not a.refused]
    assert let_through == [], f"{role(service)} changed its evidence:\n" + "\n".join(let_through)


def test_no_role_holds_a_grant_to_change_evidence(db):
    """The grant layer on its own, for every role and evidence table (the trigger is the other)."""
    held = []
    with connect(db) as conn:
        for service in SERVICES:
            for schema, table in sorted(EVIDENCE):
                name = f"{schema}.{table}"
                row = conn.execute(
                    "SELECT has_table_privilege(%(r)s, %(t)s, 'UPDATE'),"
                    " has_any_column_privilege(%(r)s, %(t)s, 'UPDATE'),"
                    " has_table_privilege(%(r)s, %(t)s, 'DELETE'),"
                    " has_table_privilege(%(r)s, %(t)s, 'TRUNCATE'),"
                    " has_table_privilege(%(r)s, %(t)s, 'TRIGGER'),"
                    " pg_get_userbyid(%(t)s::regclass::oid) = %(r)s",
                    {"r": role(service), "t": name},
                ).fetchone()
                if any(row):
                    held.append((role(service), name, row))
    assert held == []


@pytest.mark.parametrize(("schema", "table"), sorted(EVIDENCE))
@pytest.mark.parametrize("change", CHANGES)
def test_even_the_superuser_is_stopped_by_the_append_only_trigger(db, schema, table, change):
    """Grants do not bind the owner or a superuser; the trigger does (rows exist: it fires)."""
    column = sql.Identifier("event_id" if table != "checkpoints" else "key_id")
    statement = sql.SQL(change).format(t=sql.Identifier(schema, table), c=column)
    with connect(db) as conn:
        (rows,) = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        ).fetchone()
        assert rows >= 1
        result = attempt(conn, statement)
    assert result.refused and "append-only" in result.answer, str(result)


@pytest.mark.parametrize("service", SERVICES)
def test_a_role_appends_to_and_reads_its_own_store(db, service):
    """The positive control: what the service must do works, so the refusals mean something."""
    url = as_role(db, role(service))
    store = EventStore(lambda: connect(url), service)
    stream = f"roles-{uuid.uuid4()}"
    event = new_event(EVENT_OF[service])
    store.append(stream, [event], expected_version=0)
    assert [e.event_id for e in store.read_stream(stream)] == [event.event_id]
    with connect(db) as admin:
        own_tables = tables_in(admin, [service])
    with connect(url) as conn:
        reads = [attempt(conn, table_statements(s, t, c)[0]) for s, t, c in own_tables]
        conn.execute(
            sql.SQL("INSERT INTO {} (consumer, event_id) VALUES ('roles-test', %s)").format(
                sql.Identifier(service, "processed_events")
            ),
            (uuid.uuid4(),),
        )
        if service == "audit":
            assert ledgered(conn, ledger_entry(db, "identity")) is not None
            insert_checkpoint(conn)
        conn.commit()
    refused = [str(a) for a in reads if a.answer != "ok"]
    assert len(own_tables) >= 3 and refused == [], refused


@pytest.mark.parametrize("service", SERVICES)
def test_a_role_has_no_power_beyond_its_grants(db, service):
    """Not a superuser, cannot create roles or databases, bypass row security, or inherit."""
    with connect(db) as conn:
        attributes = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
            " FROM pg_roles WHERE rolname = %s",
            (role(service),),
        ).fetchone()
        member_of = conn.execute(
            "SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = %s::regrole",
            (role(service),),
        ).fetchall()
    assert attributes == (False, False, False, False, False)
    assert member_of == []  # no other service's role, no pg_read_all_data / pg_write_all_data
    other = role("audit" if service != "audit" else "booking")
    with (
        connect(as_role(db, role(service))) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(f"SET ROLE {other}")
