-- depends: 0014_audit_incidents
-- Incidents over a set of subjects (issue #19, ADR 0014): connectors, principals, network
-- addresses, vendors (IncidentOpened V3), kept as [{kind, value}] in the order given; the one
-- connector or principal of an earlier incident becomes a one-subject set.
ALTER TABLE audit.incidents ADD COLUMN subjects jsonb;
UPDATE audit.incidents SET subjects = jsonb_build_array(
    CASE WHEN connector_id IS NOT NULL
         THEN jsonb_build_object('kind', 'connector', 'value', connector_id::text)
         ELSE jsonb_build_object('kind', 'principal', 'value', principal_id::text) END);
ALTER TABLE audit.incidents
    ALTER COLUMN subjects SET NOT NULL,
    ADD CONSTRAINT incidents_subjects_check
        CHECK (jsonb_typeof(subjects) = 'array' AND jsonb_array_length(subjects) BETWEEN 1 AND 50);
-- Dropping the columns drops their index and the CHECK that needed one of them.
ALTER TABLE audit.incidents DROP COLUMN connector_id, DROP COLUMN principal_id;
