-- depends: 0001_carnet_base
-- The one-event append in one SQL statement (issue #21 item 3): a service's own-transaction
-- append of a single event inserts at expected_version + 1 and lets the keys catch a clash,
-- instead of append_events' lookups, checks and JSON unpacking (92 µs a call against 51 for
-- the bare INSERT in docs/benchmarks.md). It inserts exactly when the stream's head is
-- expected_version (version expected_version exists, and expected_version + 1 is free: the
-- unique key); otherwise it inserts nothing (no row: a version refusal) or raises
-- unique_violation (the version or the event id is taken), and EventStore.append asks
-- append_events, which says which. No order guard: the caller's transaction is this statement
-- alone, so its xid, taken by the INSERT, is newer than any committed head's (ADR 0003).
-- enable_seqscan = off as for append_events: a generic plan made on a small table scans it.
-- plpgsql, not sql: PostgreSQL 15 plans a SQL function's body again at every call.

CREATE OR REPLACE PROCEDURE carnet.create_append_one(p_schema text, p_role text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($ddl$
        CREATE OR REPLACE FUNCTION %1$I.append_one(
            p_stream_id text, p_expected_version int4, p_event_id uuid, p_event_type text,
            p_schema_version int4, p_data jsonb, p_metadata jsonb,
            OUT "position" int8, OUT stream_version int4)
        LANGUAGE plpgsql SET enable_seqscan = off AS $fn$
        BEGIN
            INSERT INTO %1$I.events AS e
                (stream_id, stream_version, event_id, event_type, schema_version, data,
                 metadata)
            SELECT p_stream_id,
                   coalesce(p_expected_version,
                            (SELECT h.stream_version FROM %1$I.events h
                              WHERE h.stream_id = p_stream_id
                              ORDER BY h.stream_version DESC LIMIT 1),
                            0) + 1,
                   p_event_id, p_event_type, p_schema_version, p_data, p_metadata
             WHERE coalesce(p_expected_version, 0) = 0
                OR EXISTS (SELECT FROM %1$I.events h
                            WHERE h.stream_id = p_stream_id
                              AND h.stream_version = p_expected_version)
            RETURNING e.position, e.stream_version INTO "position", stream_version;
        END
        $fn$
    $ddl$, p_schema);
    EXECUTE format(
        'REVOKE ALL ON FUNCTION %I.append_one(text, int4, uuid, text, int4, jsonb, jsonb)'
        ' FROM PUBLIC', p_schema);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION %I.append_one(text, int4, uuid, text, int4, jsonb, jsonb)'
        ' TO %I', p_schema, p_role);
END
$$;
REVOKE ALL ON PROCEDURE carnet.create_append_one(text, text) FROM PUBLIC;

-- Every event store made from now on gets it too (the service migrations call this name),
-- without restating 0001's procedure: it keeps its body under another name.
ALTER PROCEDURE carnet.create_event_store(text, text) RENAME TO create_event_store_base;
CREATE PROCEDURE carnet.create_event_store(p_schema text, p_role text)
LANGUAGE plpgsql AS $$
BEGIN
    CALL carnet.create_event_store_base(p_schema, p_role);
    CALL carnet.create_append_one(p_schema, p_role);
END
$$;
REVOKE ALL ON PROCEDURE carnet.create_event_store(text, text) FROM PUBLIC;

-- And every event store made before.
DO $$
DECLARE
    store record;
BEGIN
    FOR store IN
        SELECT n.nspname AS schema, 'carnet_' || n.nspname AS role
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.proname = 'append_events'
    LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = store.role) THEN
            CALL carnet.create_append_one(store.schema, store.role);
        END IF;
    END LOOP;
END
$$;
