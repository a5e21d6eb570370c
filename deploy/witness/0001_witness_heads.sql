-- The witness's own database (docs/adr/0015-witnessed-heads.md): never the ledger's. Applied by
-- `carnet witness run` / `carnet witness migrate`, not by `carnet db migrate`, whose scopes
-- are the services of the ledger's database.
--
-- witness.heads: every head the witness checked and accepted, in the order it accepted them,
-- with its own cosignature. witness.refusals: every head it refused (a fork, a rollback, a
-- bad signature), kept as evidence. Both append-only for every role, superusers included,
-- as the ledger is: a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE SCHEMA IF NOT EXISTS witness;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carnet_witness') THEN
        BEGIN
            CREATE ROLE carnet_witness LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- roles are cluster-wide: another database's migration made it meanwhile
        END;
    END IF;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO carnet_witness', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE OR REPLACE FUNCTION witness.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- A head smaller than one already witnessed is a rollback: it goes to refusals, never here.
CREATE OR REPLACE FUNCTION witness.refuse_smaller_head() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM witness.heads WHERE tree_size > NEW.tree_size) THEN
        RAISE EXCEPTION 'witness.heads: tree size % is below one already witnessed',
            NEW.tree_size USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TABLE witness.heads (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checkpoint_id   uuid UNIQUE,
    tree_size       bigint NOT NULL CHECK (tree_size > 0),
    root_hash       bytea NOT NULL CHECK (octet_length(root_hash) = 32),
    signed_at       timestamptz NOT NULL,
    algorithm       text NOT NULL,
    key_id          text NOT NULL,
    signature       bytea NOT NULL,
    witnessed_at    timestamptz NOT NULL,
    witness_key_id  text NOT NULL,
    cosignature     bytea NOT NULL,
    ledger_recorded_at timestamptz NOT NULL  -- the checkpoint row's time: the reading cursor
);

CREATE TABLE witness.refusals (
    refusal_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checkpoint_id   uuid UNIQUE,
    tree_size       bigint NOT NULL,
    root_hash       bytea NOT NULL,
    signed_at       timestamptz NOT NULL,
    algorithm       text NOT NULL,
    key_id          text NOT NULL,
    signature       bytea NOT NULL,
    kind            text NOT NULL,
    detail          text NOT NULL,
    witnessed_size  bigint NOT NULL,   -- the head it was checked against (0: none yet)
    ledger_recorded_at timestamptz NOT NULL,
    refused_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TRIGGER heads_not_smaller BEFORE INSERT ON witness.heads
    FOR EACH ROW EXECUTE FUNCTION witness.refuse_smaller_head();
CREATE TRIGGER heads_append_only BEFORE UPDATE OR DELETE ON witness.heads
    FOR EACH ROW EXECUTE FUNCTION witness.refuse_change();
CREATE TRIGGER heads_no_truncate BEFORE TRUNCATE ON witness.heads
    FOR EACH STATEMENT EXECUTE FUNCTION witness.refuse_change();
CREATE TRIGGER refusals_append_only BEFORE UPDATE OR DELETE ON witness.refusals
    FOR EACH ROW EXECUTE FUNCTION witness.refuse_change();
CREATE TRIGGER refusals_no_truncate BEFORE TRUNCATE ON witness.refusals
    FOR EACH STATEMENT EXECUTE FUNCTION witness.refuse_change();

REVOKE ALL ON SCHEMA witness FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA witness FROM PUBLIC;
REVOKE ALL ON FUNCTION witness.refuse_change(), witness.refuse_smaller_head() FROM PUBLIC;
GRANT USAGE ON SCHEMA witness TO carnet_witness;
GRANT SELECT, INSERT ON witness.heads, witness.refusals TO carnet_witness;
