-- depends: 0027_audit_auditor_role
-- Only the sequencer's faithful copy enters the ledger (issue #20, item 6; docs/audit.md
-- "Who may write the ledger"). The audit role may INSERT into audit.ledger_staging and
-- audit.ledger, so without this it could forge a row with a valid hash and have it signed.
-- Now every role, owner and superusers included (triggers bind them; only disabling triggers,
-- which needs a superuser, gets past), is held to what the sequencer does:
--   * a staged or ledgered event is the producing service's own stored event, field for field
--     (the fields verify's cross-check compares, plus the envelope's occurred_at): audit can
--     ledger, late or early, only what a service recorded, never an invented or edited event;
--   * a ledger row is appended at the tail: seq = last seq + 1, prev_hash = the last entry_hash;
--   * its recorded_at lies in the sequencing transaction (now() .. clock_timestamp()) and not
--     before its producer recorded the event.
-- A ledger batch is checked once, over the statement's rows (the sequencer inserts a batch in
-- one statement); a staged row alone. The entry hash itself is not recomputed here (RFC 8785
-- is not PostgreSQL's jsonb text): a wrong one breaks the chain at that seq, which verify and
-- the next checkpoint find. Audit may not read another service's store, so the checks run as
-- the migration owner, by static SQL per store, and tell audit only "faithful or not".

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

REVOKE ALL ON FUNCTION audit.is_recorded(text, uuid, bigint, text, integer, text, integer, jsonb,
                                         jsonb, timestamptz) FROM PUBLIC;

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

-- A staged row (one a statement) alone: is it the producer's stored event?
CREATE OR REPLACE FUNCTION audit.ledger_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT audit.is_recorded(NEW.source_service, NEW.event_id, NEW.source_position,
                             NEW.stream_id, NEW.stream_version, NEW.event_type,
                             NEW.schema_version, NEW.payload, NEW.metadata, NEW.occurred_at) THEN
        RAISE EXCEPTION 'event % is not %''s stored event: % refused', NEW.event_id,
            NEW.source_service, TG_TABLE_NAME
            USING ERRCODE = 'CL001',
                  HINT = 'only an event a service recorded, as recorded, may be ledgered';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION audit.ledger_guard() FROM PUBLIC;

-- Ledger rows, once per statement: each its producer's stored event (is_recorded), seqs
-- consecutive from the ledger's tail before the statement and nothing after them, each
-- prev_hash the entry_hash before it, each dated in its own transaction and not before its
-- producer recorded it. (Which of the events pending at once goes first is the sequencer's
-- choice, as it always was.)
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

CREATE TRIGGER ledger_guard AFTER INSERT ON audit.ledger
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.ledger_guard_rows();
CREATE TRIGGER ledger_staging_guard BEFORE INSERT ON audit.ledger_staging
    FOR EACH ROW EXECUTE FUNCTION audit.ledger_guard();
-- Staged rows are moved, never edited.
REVOKE UPDATE, TRUNCATE ON audit.ledger_staging FROM carnet_audit;

-- The sequencer may ask the same question of its staged rows (yes or no, never a row): a
-- staged row the ledger would refuse is set aside, not left to block every batch behind it
-- (services/audit/sequencer.py).
GRANT EXECUTE ON FUNCTION audit.is_recorded(text, uuid, bigint, text, integer, text, integer,
                                           jsonb, jsonb, timestamptz) TO carnet_audit;
