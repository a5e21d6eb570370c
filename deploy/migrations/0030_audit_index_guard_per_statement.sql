-- depends: 0029_audit_ledger_scope_idx
-- The access index's guard (0026), the same rule at a fraction of the cost (issue #21:
-- recording must be cheap). The ledger path of `make bench-audit` indexed 3,786 records/s
-- before 0026 and 564/s with its row trigger (20 entry rows a record, two queries each). Now
-- one check per INSERT statement over its transition table (the projector inserts a batch's
-- requests, and its entries, in one statement each), and UPDATE/DELETE refused per statement.
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
