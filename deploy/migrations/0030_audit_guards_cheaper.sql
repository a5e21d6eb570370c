-- depends: 0029_audit_ledger_scope_idx
-- The guards of 0026 and 0028, the same rules at a fraction of the cost (issue #21: recording
-- must be cheap). The ledger path of `make bench-audit` indexed 3,786 records/s before 0026
-- and 564/s with its row trigger (20 entry rows a record, two queries each); 0028's dynamic
-- SQL was planned again on every staged and ledgered row.
--
-- Index: one check per INSERT statement over its transition table (the projector inserts a
-- batch's entries in one statement), and UPDATE/DELETE refused per statement.
CREATE OR REPLACE FUNCTION audit.index_guard_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    at bigint;
    bad bigint;
BEGIN
    SELECT seq INTO at FROM audit.projection_positions WHERE name = 'access_index';
    SELECT n.seq INTO bad
      FROM (SELECT DISTINCT seq FROM new_rows) n
     WHERE n.seq <= coalesce(at, 0) OR NOT EXISTS (
           SELECT FROM audit.ledger l
            WHERE l.seq = n.seq AND l.source_service = 'booking'
              AND l.event_type = 'AppointmentsAccessed')
     ORDER BY n.seq LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'audit.%: seq % is no unindexed access record of the ledger',
            TG_TABLE_NAME, bad
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit.index_guard_rows() FROM PUBLIC;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['access_requests', 'access_entries', 'access_targets'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON audit.%I', t || '_guard', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON audit.%I'
                       ' REFERENCING NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION audit.index_guard_rows()',
                       t || '_guard', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON audit.%I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION audit.index_guard()',
                       t || '_no_change', t);
    END LOOP;
END
$$;

-- Ledger: the same comparison, as static SQL per store (plans kept for the session).
CREATE OR REPLACE FUNCTION audit.is_recorded(
    p_service text, p_event_id uuid, p_position bigint, p_stream_id text,
    p_stream_version integer, p_event_type text, p_schema_version integer, p_payload jsonb,
    p_metadata jsonb, p_occurred_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record;
BEGIN
    CASE p_service
        WHEN 'booking' THEN
            SELECT position, stream_id, stream_version, event_type, schema_version, data,
                   metadata, recorded_at INTO e FROM booking.events WHERE event_id = p_event_id;
        WHEN 'identity' THEN
            SELECT position, stream_id, stream_version, event_type, schema_version, data,
                   metadata, recorded_at INTO e FROM identity.events WHERE event_id = p_event_id;
        WHEN 'notification' THEN
            SELECT position, stream_id, stream_version, event_type, schema_version, data,
                   metadata, recorded_at INTO e FROM notification.events
             WHERE event_id = p_event_id;
        WHEN 'audit' THEN
            SELECT position, stream_id, stream_version, event_type, schema_version, data,
                   metadata, recorded_at INTO e FROM audit.events WHERE event_id = p_event_id;
        ELSE
            RETURN false;
    END CASE;
    -- occurred_at is the envelope's: the producer's metadata time when it set one, else the
    -- store's recorded_at (services/common/relay/messages.py occurred_at()).
    RETURN FOUND
       AND e.position = p_position AND e.stream_id = p_stream_id
       AND e.stream_version = p_stream_version AND e.event_type = p_event_type
       AND e.schema_version = p_schema_version AND e.data = p_payload
       AND coalesce(e.metadata ->> 'correlation_id', p_event_id::text)
           IS NOT DISTINCT FROM p_metadata ->> 'correlation_id'
       AND p_occurred_at IS NOT DISTINCT FROM
           CASE WHEN coalesce(e.metadata ->> 'occurred_at', '') <> ''
                THEN audit.envelope_time(e.metadata) ELSE e.recorded_at END;
END
$$;

-- A producer's occurred_at as the consumer parses it (ledger.parse_timestamp): a date and a
-- time, at most microseconds, with an offset; anything else is no time (NULL). STABLE, not
-- IMMUTABLE: a cast to timestamptz may read the session's time zone.
CREATE OR REPLACE FUNCTION audit.envelope_time(p_metadata jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    text_value text := p_metadata ->> 'occurred_at';
BEGIN
    IF text_value IS NULL OR jsonb_typeof(p_metadata -> 'occurred_at') <> 'string'
       OR text_value !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$' THEN
        RETURN NULL;
    END IF;
    RETURN text_value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- When the producer recorded the event: no ledger entry may be dated before it.
CREATE OR REPLACE FUNCTION audit.recorded_at_source(p_service text, p_event_id uuid)
RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    at timestamptz;
BEGIN
    CASE p_service
        WHEN 'booking' THEN SELECT recorded_at INTO at FROM booking.events WHERE event_id = p_event_id;
        WHEN 'identity' THEN SELECT recorded_at INTO at FROM identity.events WHERE event_id = p_event_id;
        WHEN 'notification' THEN
            SELECT recorded_at INTO at FROM notification.events WHERE event_id = p_event_id;
        WHEN 'audit' THEN SELECT recorded_at INTO at FROM audit.events WHERE event_id = p_event_id;
        ELSE at := NULL;
    END CASE;
    RETURN at;
END
$$;
REVOKE ALL ON FUNCTION audit.recorded_at_source(text, uuid) FROM PUBLIC;

-- Ledger rows: the sequencer inserts a batch in one statement, checked once over its rows:
-- each its producer's stored event (is_recorded), seqs consecutive from the ledger's tail
-- before the statement and nothing after them, each prev_hash the entry_hash before it, each
-- dated in its own transaction and not before its producer recorded it. (Which of the events
-- pending at once goes first is the sequencer's choice, as it always was.) Staged rows keep the per-row check (one row a statement).
CREATE OR REPLACE FUNCTION audit.ledger_guard_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    first_seq bigint;
    last_seq bigint;
    tail_seq bigint;
    tail_hash bytea;
    bad bigint;
BEGIN
    SELECT min(seq), max(seq) INTO first_seq, last_seq FROM new_rows;
    IF first_seq IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT n.seq INTO bad FROM new_rows n
     WHERE NOT audit.is_recorded(n.source_service, n.event_id, n.source_position, n.stream_id,
                                 n.stream_version, n.event_type, n.schema_version, n.payload,
                                 n.metadata, n.occurred_at)
     ORDER BY n.seq LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'audit.ledger: seq % is not its producer''s stored event', bad
            USING ERRCODE = 'CL001',
                  HINT = 'only an event a service recorded, as recorded, may be ledgered';
    END IF;
    SELECT seq, entry_hash INTO tail_seq, tail_hash
      FROM audit.ledger WHERE seq < first_seq ORDER BY seq DESC LIMIT 1;
    SELECT n.seq INTO bad FROM (
        SELECT seq, prev_hash, recorded_at, source_service, event_id,
               lag(entry_hash) OVER (ORDER BY seq) AS before,
               row_number() OVER (ORDER BY seq) AS k
          FROM new_rows) n
     WHERE n.seq <> coalesce(tail_seq, 0) + n.k
        OR n.prev_hash <> coalesce(n.before, tail_hash, decode(repeat('00', 32), 'hex'))
        OR n.recorded_at < now() OR n.recorded_at > clock_timestamp()
        OR n.recorded_at < audit.recorded_at_source(n.source_service, n.event_id)
     ORDER BY n.seq LIMIT 1;
    IF bad IS NULL AND EXISTS (SELECT FROM audit.ledger WHERE seq > last_seq) THEN
        bad := last_seq;
    END IF;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'audit.ledger: seq % does not extend the chain at its tail, now', bad
            USING ERRCODE = 'CL002';
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit.ledger_guard_rows() FROM PUBLIC;

DROP TRIGGER ledger_guard ON audit.ledger;
CREATE TRIGGER ledger_guard AFTER INSERT ON audit.ledger
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.ledger_guard_rows();

-- The sequencer may ask the same question of its staged rows (yes or no, never a row): a
-- staged row the ledger would refuse (staged before 0028) is set aside, not left to block
-- every batch behind it (services/audit/sequencer.py).
GRANT EXECUTE ON FUNCTION audit.is_recorded(text, uuid, bigint, text, integer, text, integer,
                                           jsonb, jsonb, timestamptz) TO carnet_audit;
