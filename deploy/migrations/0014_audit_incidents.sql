-- depends: 0007_audit_ledger
-- Incidents' read model (docs/audit.md): written in the transaction that appends IncidentOpened,
-- BreachNotificationRequested or RegulatorNoticePrepared to audit's store. The report itself
-- is recomputed from the ledger on each request.
CREATE TABLE audit.incidents (
    incident_id            uuid PRIMARY KEY,
    title                  text NOT NULL,
    connector_id           uuid,
    principal_id           uuid,
    window_start           timestamptz NOT NULL,
    window_end             timestamptz NOT NULL CHECK (window_end > window_start),
    aware_at               timestamptz NOT NULL,
    opened_by              uuid NOT NULL,
    opened_at              timestamptz NOT NULL DEFAULT now(),
    detection_ids          uuid[] NOT NULL DEFAULT '{}',
    notices_requested_at   timestamptz,
    notices_requested_by   uuid,
    regulator_prepared_at  timestamptz,
    CHECK (connector_id IS NOT NULL OR principal_id IS NOT NULL)
);
CREATE INDEX incidents_connector_idx ON audit.incidents (connector_id, opened_at);

REVOKE ALL ON audit.incidents FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON audit.incidents TO carnet_audit;
