-- depends: 0023_audit_detection_over_quota
-- Reports that know they are complete (issue #20, docs/audit.md "Completeness"): how many
-- events a producing service recorded in a window that the ledger does not hold yet (staged
-- but unsequenced, or still on the bus). Audit may not read another service's store, so the
-- count comes from a function of the migration owner: audit learns counts and times, never a
-- row. The service name is checked against the four stores, never spliced in unchecked.
CREATE OR REPLACE FUNCTION audit.unledgered(p_service text, p_since timestamptz,
                                            p_until timestamptz)
RETURNS TABLE (pending bigint, oldest timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_service NOT IN ('identity', 'booking', 'notification', 'audit')
       OR to_regclass(format('%I.events', p_service)) IS NULL THEN
        RAISE EXCEPTION 'no event store %', p_service USING ERRCODE = 'undefined_table';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT count(*), min(e.recorded_at) FROM %I.events e'
        ' WHERE e.recorded_at >= $1 AND e.recorded_at <= $2'
        '   AND NOT EXISTS (SELECT FROM audit.ledger l WHERE l.event_id = e.event_id)',
        p_service) USING p_since, p_until;
END
$$;
REVOKE ALL ON FUNCTION audit.unledgered(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.unledgered(text, timestamptz, timestamptz) TO carnet_audit;

-- recorded_at follows the insertion order, so a BRIN index finds a window's rows for a few
-- kilobytes of index and almost no write cost. A store migrated after this file has none:
-- the count is then a scan, still exact.
DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['identity', 'booking', 'notification', 'audit'] LOOP
        IF to_regclass(format('%I.events', s)) IS NOT NULL THEN
            EXECUTE format(
                'CREATE INDEX IF NOT EXISTS events_recorded_at_brin ON %I.events'
                ' USING brin (recorded_at)', s);
        END IF;
    END LOOP;
END
$$;
