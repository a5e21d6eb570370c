-- depends: 0025_audit_index_check
-- The access index is derived from the ledger, and only its projector writes it (issue #20,
-- docs/audit.md "A checked index"): a row may only be added for a ledger access record past
-- the index's position (the projector adds a batch, then moves the position in the same
-- transaction); no row is ever changed or removed. So the audit role, which the projector runs
-- as, can no longer edit, delete or invent a row behind a report. A superuser still can (with
-- triggers bypassed); each report's check then catches it (index_check.py). A rebuild fills new
-- tables and swaps them in, carrying these triggers over (services/common/projections/shadow.py).
CREATE OR REPLACE FUNCTION audit.index_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    at bigint;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'audit.% is derived from the ledger: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'rebuild it: carnet replay rebuild audit.access_index';
    END IF;
    SELECT seq INTO at FROM audit.projection_positions WHERE name = 'access_index';
    IF NEW.seq <= coalesce(at, 0) OR NOT EXISTS (
        SELECT FROM audit.ledger l
         WHERE l.seq = NEW.seq AND l.source_service = 'booking'
           AND l.event_type = 'AppointmentsAccessed') THEN
        RAISE EXCEPTION 'audit.%: seq % is no unindexed access record of the ledger',
            TG_TABLE_NAME, NEW.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION audit.index_guard() FROM PUBLIC;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['access_requests', 'access_entries', 'access_targets'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OR DELETE ON audit.%I'
                       ' FOR EACH ROW EXECUTE FUNCTION audit.index_guard()', t || '_guard', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON audit.%I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION audit.index_guard()',
                       t || '_no_truncate', t);
    END LOOP;
END
$$;
