-- depends: 0009_identity_read_models
-- Containment (ADR 0014, docs/identity.md#containment): what identity shows an admin of a
-- principal's quotas and trust, each row written in the transaction of its event, and the
-- right to clear a password (CredentialsReset) until an admin sets a new one.

-- The latest QuotaSet of each reason per principal: an operator's quota, a throttle.
CREATE TABLE identity.quotas (
    principal_id  uuid NOT NULL REFERENCES identity.principals (principal_id),
    reason        text NOT NULL CHECK (reason IN ('operator', 'throttle')),
    per_hour      integer NOT NULL CHECK (per_hour > 0),
    burst         integer NOT NULL CHECK (burst > 0 AND burst <= per_hour),
    until         timestamptz,
    detection_id  uuid,
    set_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, reason)
);

-- PrincipalTrusted: no automatic throttle or suspension before this instant.
ALTER TABLE identity.principals ADD COLUMN trusted_until timestamptz;

GRANT SELECT, INSERT, UPDATE ON identity.quotas TO carnet_identity;
-- A credential reset removes the password's hash: nothing is left to sign in with.
GRANT DELETE ON identity.credentials TO carnet_identity;
