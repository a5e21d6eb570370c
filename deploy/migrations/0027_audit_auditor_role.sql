-- depends: 0026_audit_index_guard
-- The verifier's own role (issue #20, item 6): `carnet audit verify` and audit's
-- GET /v1/audit/verify read the ledger, its heads, the access index and every service's event
-- store to cross-check them, and nothing else. carnet_auditor may SELECT exactly those and
-- write nothing anywhere: the audit service no longer holds an admin URL for verify. Its
-- password comes from AUDITOR_DB_PASSWORD at `carnet db migrate`, like the services' roles.
DO $$
DECLARE
    s text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carnet_auditor') THEN
        BEGIN
            CREATE ROLE carnet_auditor LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- roles are cluster-wide: another database's migration made it just now
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO carnet_auditor', current_database());
    FOREACH s IN ARRAY ARRAY['identity', 'booking', 'notification', 'audit'] LOOP
        IF to_regclass(format('%I.events', s)) IS NOT NULL THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO carnet_auditor', s);
            EXECUTE format('GRANT SELECT ON %I.events TO carnet_auditor', s);
        END IF;
    END LOOP;
END
$$;
GRANT SELECT ON audit.ledger, audit.checkpoints, audit.access_requests, audit.access_entries,
    audit.access_targets, audit.projection_positions TO carnet_auditor;
