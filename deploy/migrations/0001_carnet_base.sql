-- Database-level pieces shared by every service: the `carnet` schema, the append-only
-- guard and the procedure that lays out one service's event store (so its DDL exists once).

CREATE SCHEMA IF NOT EXISTS carnet;
REVOKE ALL ON SCHEMA carnet FROM PUBLIC;

-- Nobody connects unless granted: each carnet_<service> role gets CONNECT in create_event_store.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Fired BEFORE UPDATE/DELETE (per row) and BEFORE TRUNCATE (per statement) on every events
-- table. Triggers bind the owner and superusers too, which grants alone cannot.
CREATE OR REPLACE FUNCTION carnet.refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'append a compensating event instead';
END
$$;
REVOKE ALL ON FUNCTION carnet.refuse_event_change() FROM PUBLIC;

-- One service's event store: schema, login role, events, processed_events, relay_position,
-- append-only triggers and least-privilege grants. Idempotent.
CREATE OR REPLACE PROCEDURE carnet.create_event_store(p_schema text, p_role text)
LANGUAGE plpgsql AS $$
DECLARE
    other_role text;
BEGIN
    -- Roles are cluster-wide: a migration of another database may create this one at the
    -- same moment, so a duplicate is expected and harmless.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = p_role) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN', p_role);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;

    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', p_schema);

    -- The global log is ordered by (transaction_id, position), never by position alone:
    -- see docs/adr/0003-gap-free-global-log.md.
    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS %1$I.events (
            position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
            stream_id       text NOT NULL,
            stream_version  integer NOT NULL CHECK (stream_version > 0),
            event_id        uuid NOT NULL,
            event_type      text NOT NULL,
            schema_version  integer NOT NULL CHECK (schema_version > 0),
            data            jsonb NOT NULL,
            metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
            recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT events_event_id_key UNIQUE (event_id),
            CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
        )$ddl$, p_schema);
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS events_transaction_position_idx'
        ' ON %I.events (transaction_id, position)', p_schema);

    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS %1$I.processed_events (
            consumer      text NOT NULL,
            event_id      uuid NOT NULL,
            processed_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )$ddl$, p_schema);

    EXECUTE format($ddl$
        CREATE TABLE IF NOT EXISTS %1$I.relay_position (
            relay           text PRIMARY KEY,
            transaction_id  xid8 NOT NULL DEFAULT '0'::xid8,
            position        bigint NOT NULL DEFAULT 0,
            updated_at      timestamptz NOT NULL DEFAULT now()
        )$ddl$, p_schema);

    EXECUTE format(
        'CREATE OR REPLACE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON %I.events'
        ' FOR EACH ROW EXECUTE FUNCTION carnet.refuse_event_change()', p_schema);
    EXECUTE format(
        'CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON %I.events'
        ' FOR EACH STATEMENT EXECUTE FUNCTION carnet.refuse_event_change()', p_schema);

    -- The whole append is this one call, one round trip: idempotency check, version check,
    -- per-stream order guard, insert. A refusal inserts nothing and raises nothing (the
    -- outcome says why), so the caller's transaction stays usable. Concurrent appends that
    -- pass the checks together are settled by the unique keys (stream_id, stream_version)
    -- and event_id: the loser gets unique_violation and retries.
    -- enable_seqscan = off: the statements below are cached as generic plans; planned while
    -- the table is small, they would keep a sequential scan as it grows. Every lookup here
    -- has an index, so forbid the scan rather than trust the statistics of the moment.
    EXECUTE format($ddl$
        CREATE OR REPLACE FUNCTION %1$I.append_events(
            p_stream_id text, p_expected_version int4, p_batch jsonb, p_event_ids uuid[],
            p_writers_lock boolean,
            OUT outcome text, OUT stream_version int4, OUT positions int8[])
        LANGUAGE plpgsql SET enable_seqscan = off AS $fn$
        DECLARE
            head_xid xid8;
            any_stored boolean;
            n_stored int4;
        BEGIN
            IF p_writers_lock THEN
                -- Writers' lock (ordering="lock", for measurement): held until commit, and
                -- taken before any position is drawn, so positions follow commit order.
                PERFORM pg_advisory_xact_lock(hashtextextended(%2$L, 0));
            END IF;
            -- The stream's head and whether any id is stored, in one statement (one snapshot).
            SELECT coalesce(h.stream_version, 0), h.transaction_id,
                   EXISTS (SELECT FROM %1$I.events e WHERE e.event_id = ANY(p_event_ids))
              INTO stream_version, head_xid, any_stored
              FROM (SELECT) AS one
              LEFT JOIN LATERAL (
                  SELECT e.stream_version, e.transaction_id
                    FROM %1$I.events e WHERE e.stream_id = p_stream_id
                   ORDER BY e.stream_version DESC LIMIT 1) AS h ON true;
            IF any_stored THEN
                SELECT count(*), max(e.stream_version),
                       array_agg(e.position ORDER BY array_position(p_event_ids, e.event_id))
                  INTO n_stored, stream_version, positions
                  FROM %1$I.events e
                 WHERE e.event_id = ANY(p_event_ids) AND e.stream_id = p_stream_id;
                outcome := CASE WHEN n_stored = cardinality(p_event_ids)
                                THEN 'stored' ELSE 'partial' END;
                RETURN;
            END IF;
            IF stream_version <> coalesce(p_expected_version, stream_version) THEN
                outcome := 'conflict';
                RETURN;
            END IF;
            -- Per-stream order guard. An xid is assigned at a transaction's first write; if
            -- ours is older than the head's, our events would sort before the head in the
            -- (transaction_id, position) log. No xid yet (NULL): the one the INSERT takes is
            -- newer than that of any committed head. Never needed under the writers' lock.
            IF NOT p_writers_lock AND head_xid > pg_current_xact_id_if_assigned() THEN
                outcome := 'stale';
                RETURN;
            END IF;
            outcome := 'appended';
            IF cardinality(p_event_ids) = 1 THEN
                -- The common case, one event per transaction: no unnesting, no aggregate.
                INSERT INTO %1$I.events AS e
                    (stream_id, stream_version, event_id, event_type, schema_version,
                     data, metadata)
                VALUES (p_stream_id, stream_version + 1, p_event_ids[1], p_batch->0->>1,
                        (p_batch->0->>2)::int4, p_batch->0->3, p_batch->0->4)
                RETURNING ARRAY[e.position], e.stream_version INTO positions, stream_version;
                RETURN;
            END IF;
            WITH inserted AS (
                INSERT INTO %1$I.events AS e
                    (stream_id, stream_version, event_id, event_type, schema_version,
                     data, metadata)
                SELECT p_stream_id, (stream_version + b.ord)::int4, (b.e->>0)::uuid,
                       b.e->>1, (b.e->>2)::int4, b.e->3, b.e->4
                  FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS b(e, ord)
                 -- positions are drawn in this order, so they rise with the version
                 ORDER BY b.ord
                RETURNING e.position, e.stream_version
            )
            SELECT array_agg(i.position ORDER BY i.stream_version), max(i.stream_version)
              INTO positions, stream_version FROM inserted i;
        END
        $fn$
    $ddl$, p_schema, 'carnet.events.' || p_schema);

    -- Least privilege: nothing for PUBLIC nor for the other services' roles.
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', p_schema);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM PUBLIC', p_schema);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM PUBLIC', p_schema);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC', p_schema);
    FOR other_role IN
        SELECT rolname FROM pg_roles WHERE rolname LIKE 'carnet\_%' AND rolname <> p_role
    LOOP
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', p_schema, other_role);
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', p_schema, other_role);
        EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %I FROM %I', p_schema, other_role);
    END LOOP;

    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), p_role);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', p_schema, p_role);
    EXECUTE format('GRANT SELECT ON %I.events TO %I', p_schema, p_role);
    -- INSERT on the caller's columns only: position, transaction_id and recorded_at are the
    -- store's to assign, so a service cannot forge its place in the global log.
    EXECUTE format(
        'GRANT INSERT (stream_id, stream_version, event_id, event_type, schema_version,'
        ' data, metadata) ON %I.events TO %I', p_schema, p_role);
    EXECUTE format(
        'GRANT USAGE ON SEQUENCE %s TO %I',
        pg_get_serial_sequence(format('%I.events', p_schema), 'position'), p_role);
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON %I.processed_events, %I.relay_position TO %I',
        p_schema, p_schema, p_role);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION %I.append_events(text, int4, jsonb, uuid[], boolean) TO %I',
        p_schema, p_role);
END
$$;
REVOKE ALL ON PROCEDURE carnet.create_event_store(text, text) FROM PUBLIC;
