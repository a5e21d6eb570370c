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
--   * its recorded_at is the sequencing transaction's own time (now() .. clock_timestamp()),
--     so no entry can be back- or forward-dated.
-- The entry hash itself is not recomputed here (RFC 8785 is not PostgreSQL's jsonb text):
-- a wrong one breaks the chain at that seq, which verify and the next checkpoint find.
-- Audit may not read another service's store, so the check runs as the migration owner and
-- tells audit only "faithful or not", never a row.
CREATE OR REPLACE FUNCTION audit.is_recorded(
    p_service text, p_event_id uuid, p_position bigint, p_stream_id text,
    p_stream_version integer, p_event_type text, p_schema_version integer, p_payload jsonb,
    p_metadata jsonb, p_occurred_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found boolean;
BEGIN
    IF p_service NOT IN ('identity', 'booking', 'notification', 'audit')
       OR to_regclass(format('%I.events', p_service)) IS NULL THEN
        RETURN false;
    END IF;
    -- occurred_at is the envelope's: the producer's metadata time when it set one, else the
    -- store's recorded_at (services/common/relay/messages.py occurred_at()).
    EXECUTE format(
        'SELECT EXISTS (SELECT FROM %I.events e'
        '  WHERE e.event_id = $1 AND e.position = $2 AND e.stream_id = $3'
        '    AND e.stream_version = $4 AND e.event_type = $5 AND e.schema_version = $6'
        '    AND e.data = $7'
        '    AND coalesce(e.metadata->>''correlation_id'', e.event_id::text)'
        '        IS NOT DISTINCT FROM $8->>''correlation_id'''
        '    AND $9 IS NOT DISTINCT FROM CASE'
        '        WHEN coalesce(e.metadata->>''occurred_at'', '''') <> '''''
        '        THEN audit.envelope_time(e.metadata) ELSE e.recorded_at END)', p_service)
        INTO found
        USING p_event_id, p_position, p_stream_id, p_stream_version, p_event_type,
              p_schema_version, p_payload, p_metadata, p_occurred_at;
    RETURN found;
END
$$;
REVOKE ALL ON FUNCTION audit.is_recorded(text, uuid, bigint, text, integer, text, integer, jsonb,
                                         jsonb, timestamptz) FROM PUBLIC;

-- A producer's occurred_at as the consumer parses it: an ISO-8601 time with an offset, else none.
CREATE OR REPLACE FUNCTION audit.envelope_time(p_metadata jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    text_value text := p_metadata->>'occurred_at';
BEGIN
    IF text_value IS NULL OR text_value !~ '(Z|[+-]\d\d(:?\d\d)?)$' THEN
        RETURN NULL;
    END IF;
    RETURN text_value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit.envelope_time(jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION audit.ledger_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tail_seq bigint;
    tail_hash bytea;
BEGIN
    IF NOT audit.is_recorded(NEW.source_service, NEW.event_id, NEW.source_position,
                             NEW.stream_id, NEW.stream_version, NEW.event_type,
                             NEW.schema_version, NEW.payload, NEW.metadata, NEW.occurred_at) THEN
        RAISE EXCEPTION 'event % is not %''s stored event: % refused', NEW.event_id,
            NEW.source_service, TG_TABLE_NAME
            USING ERRCODE = 'CL001',
                  HINT = 'only an event a service recorded, as recorded, may be ledgered';
    END IF;
    IF TG_TABLE_NAME = 'ledger' THEN
        SELECT seq, entry_hash INTO tail_seq, tail_hash
          FROM audit.ledger ORDER BY seq DESC LIMIT 1;
        IF NEW.seq <> coalesce(tail_seq, 0) + 1
           OR NEW.prev_hash <> coalesce(tail_hash, decode(repeat('00', 32), 'hex')) THEN
            RAISE EXCEPTION 'audit.ledger: seq % does not extend the chain at seq %', NEW.seq,
                coalesce(tail_seq, 0)
                USING ERRCODE = 'CL002';
        END IF;
        IF NEW.recorded_at < now() OR NEW.recorded_at > clock_timestamp() THEN
            RAISE EXCEPTION 'audit.ledger: seq % is dated outside its own transaction', NEW.seq
                USING ERRCODE = 'CL002';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION audit.ledger_guard() FROM PUBLIC;

CREATE TRIGGER ledger_guard BEFORE INSERT ON audit.ledger
    FOR EACH ROW EXECUTE FUNCTION audit.ledger_guard();
CREATE TRIGGER ledger_staging_guard BEFORE INSERT ON audit.ledger_staging
    FOR EACH ROW EXECUTE FUNCTION audit.ledger_guard();
-- Staged rows are moved, never edited.
REVOKE UPDATE, TRUNCATE ON audit.ledger_staging FROM carnet_audit;
