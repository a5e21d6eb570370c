-- depends: 0007_audit_ledger
-- Staged ingestion (services/audit/sequencer.py): consumers stage events here without the
-- ledger lock; one lock holder at a time moves a batch into audit.ledger, chaining hashes in
-- staging order. Rows live here for milliseconds; the ledger stays the only evidence.
CREATE TABLE audit.ledger_staging (
    staged_seq       bigserial NOT NULL,
    event_id         uuid PRIMARY KEY,
    source_service   text NOT NULL,
    source_position  bigint NOT NULL,
    stream_id        text NOT NULL,
    stream_version   integer NOT NULL,
    event_type       text NOT NULL,
    schema_version   integer NOT NULL,
    payload          jsonb NOT NULL,
    metadata         jsonb NOT NULL,
    occurred_at      timestamptz,
    staged_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ledger_staging_order ON audit.ledger_staging (staged_seq);

REVOKE ALL ON audit.ledger_staging FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON audit.ledger_staging TO carnet_audit;
GRANT USAGE ON SEQUENCE audit.ledger_staging_staged_seq_seq TO carnet_audit;
