-- depends: 0002_identity_event_store
-- Identity's read models, each written in the same transaction as the event it reflects
-- (docs/identity.md). Secrets live here as argon2id hashes and tokens as SHA-256 digests:
-- neither ever appears in an event.

-- Who exists: practitioners, patients, staff and connectors, with what lookups need.
CREATE TABLE identity.principals (
    principal_id  uuid PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('practitioner', 'patient', 'staff', 'connector')),
    email         text,
    client_id     text UNIQUE,
    role          text,
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    profile       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One e-mail signs in one person of a kind; lower() so case does not make a second account.
CREATE UNIQUE INDEX principals_email ON identity.principals (kind, lower(email))
    WHERE email IS NOT NULL;

-- argon2id hashes of passwords and client secrets (never in events, never logged).
CREATE TABLE identity.credentials (
    principal_id  uuid PRIMARY KEY REFERENCES identity.principals (principal_id),
    secret_hash   text NOT NULL CHECK (secret_hash LIKE '$argon2id$%'),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The scopes each practitioner granted each connector: the connector's reach.
CREATE TABLE identity.grants (
    connector_id     uuid NOT NULL REFERENCES identity.principals (principal_id),
    practitioner_id  uuid NOT NULL REFERENCES identity.principals (principal_id),
    grant_id         uuid NOT NULL UNIQUE,
    scopes           text[] NOT NULL,
    granted_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, practitioner_id)
);

-- Access tokens by SHA-256 digest of the random token: a leak of this table opens nothing.
CREATE TABLE identity.tokens (
    token_id      uuid PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    principal_id  uuid NOT NULL REFERENCES identity.principals (principal_id),
    kind          text NOT NULL,
    scopes        text[] NOT NULL,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked       boolean NOT NULL DEFAULT false
);
CREATE INDEX tokens_live_by_principal ON identity.tokens (principal_id) WHERE NOT revoked;

GRANT SELECT, INSERT, UPDATE ON identity.principals, identity.credentials, identity.tokens
    TO carnet_identity;
GRANT SELECT, INSERT, UPDATE, DELETE ON identity.grants TO carnet_identity;
