-- depends: 0028_audit_ledger_guard
-- A report checks the rows it rests on against the ledger (issue #20, docs/audit.md "A checked
-- index"): the access records of its scope (connectors, principals, addresses) in its window.
-- These find them in the ledger itself, by who and when, so the check reads what the report
-- reads instead of every record of the window (a day of a busy platform: ~110,000 records).
-- One entry per access record in each; nothing for other events.
CREATE INDEX ledger_access_connector_idx
    ON audit.ledger ((payload ->> 'connector_id'), (coalesce(occurred_at, recorded_at)))
    WHERE source_service = 'booking' AND event_type = 'AppointmentsAccessed';
CREATE INDEX ledger_access_principal_idx
    ON audit.ledger ((payload ->> 'principal_id'), (coalesce(occurred_at, recorded_at)))
    WHERE source_service = 'booking' AND event_type = 'AppointmentsAccessed';
CREATE INDEX ledger_access_address_idx
    ON audit.ledger ((payload ->> 'network_address'), (coalesce(occurred_at, recorded_at)))
    WHERE source_service = 'booking' AND event_type = 'AppointmentsAccessed';
-- The window-wide check these replace read every record of the window by time alone.
DROP INDEX IF EXISTS audit.ledger_access_time_idx;
