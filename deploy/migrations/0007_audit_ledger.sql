-- depends: 0005_audit_event_store
-- The audit ledger (docs/adr/0006-audit-ledger.md): every event of every service, once per
-- event id, hash-chained by a single sequencer, with signed Merkle tree heads (checkpoints).
-- Append-only for every role: grants keep carnet_audit to SELECT and INSERT, and triggers
-- refuse UPDATE, DELETE and TRUNCATE to the owner and superusers too.
CREATE TABLE audit.ledger (
    seq              bigint PRIMARY KEY CHECK (seq > 0),
    event_id         uuid NOT NULL,
    source_service   text NOT NULL,
    source_position  bigint NOT NULL,
    stream_id        text NOT NULL,
    stream_version   integer NOT NULL,
    event_type       text NOT NULL,
    schema_version   integer NOT NULL,
    payload          jsonb NOT NULL,            -- as received: medical fields stay encrypted
    metadata         jsonb NOT NULL,            -- correlation/causation ids, AMQP headers kept
    occurred_at      timestamptz,               -- the producer's time, from the envelope
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),  -- the ledger's time
    prev_hash        bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    entry_hash       bytea NOT NULL CHECK (octet_length(entry_hash) = 32),
    CONSTRAINT ledger_event_id_key UNIQUE (event_id)
);
CREATE INDEX ledger_source_idx ON audit.ledger (source_service, source_position);

-- Signed tree heads (RFC 9162 style) over the first tree_size entries. The key is never here:
-- verify checks the signature with the public key from its own configuration.
CREATE TABLE audit.checkpoints (
    checkpoint_id           uuid PRIMARY KEY,
    tree_size               bigint NOT NULL CHECK (tree_size > 0),
    root_hash               bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    signed_at               timestamptz NOT NULL,
    algorithm               text NOT NULL,
    key_id                  text NOT NULL,
    signature               bytea NOT NULL,
    previous_checkpoint_id  uuid REFERENCES audit.checkpoints (checkpoint_id),
    recorded_at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX checkpoints_tree_size_idx ON audit.checkpoints (tree_size, signed_at);

CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON audit.ledger
    FOR EACH ROW EXECUTE FUNCTION carnet.refuse_event_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON audit.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION carnet.refuse_event_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON audit.checkpoints
    FOR EACH ROW EXECUTE FUNCTION carnet.refuse_event_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON audit.checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION carnet.refuse_event_change();

REVOKE ALL ON audit.ledger, audit.checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON audit.ledger, audit.checkpoints TO carnet_audit;
