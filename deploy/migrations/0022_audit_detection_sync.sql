-- depends: 0013_audit_detection
-- Sync-aware detection (docs/detection.md, ADR 0014) replaces D1-D6's windows. Working state,
-- not evidence: written in the transaction that appends the detection to audit.events and
-- claims the event id in audit.processed_events; the ledger stays the proof, so carnet_audit
-- may update and delete here (never in the ledger). The old tables held only windows that the
-- new rules do not read: they go.
DROP TABLE audit.detection_buckets, audit.detection_items, audit.detection_accesses,
    audit.detection_addresses, audit.detection_bookings, audit.detection_cooldowns,
    audit.detection_subjects;

-- One row per subject: a principal (its id), an address ('address:<ip>') or a refused token
-- ('token:<fingerprint>'). Its lock serialises the subject's events; the reach is cached.
CREATE TABLE audit.detection_subjects (
    subject         text PRIMARY KEY,
    principal_kind  text NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    pruned_before   timestamptz,                  -- NULL: never pruned
    reach           integer,                      -- appointments in reach within the horizon
    reach_at        timestamptz                   -- when counted (event time); NULL: count again
);

-- Counters per subject per minute (event time).
CREATE TABLE audit.detection_buckets (
    subject          text NOT NULL,
    minute           timestamptz NOT NULL,
    accesses         integer NOT NULL DEFAULT 0,  -- access records, any outcome
    returned         integer NOT NULL DEFAULT 0,  -- appointments served
    refused          integer NOT NULL DEFAULT 0,  -- refusals that count as probing (D5)
    reach_refused    integer NOT NULL DEFAULT 0,  -- of those, outside the grants (D4)
    unauthenticated  integer NOT NULL DEFAULT 0,  -- refused tokens (D6, D7)
    auth_failures    integer NOT NULL DEFAULT 0,  -- failed sign-ins (D5, D6)
    PRIMARY KEY (subject, minute)
);

-- What each minute's reads were: appointments and patients served, and the appointments each
-- rule counts (reread, deep, beyond, new_address), so windows count them distinct.
CREATE TABLE audit.detection_items (
    subject  text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('appointment', 'patient', 'reread', 'deep', 'beyond',
                                           'new_address')),
    minute   timestamptz NOT NULL,
    item_id  uuid NOT NULL,
    PRIMARY KEY (subject, kind, minute, item_id)
);

-- Access records per subject with what they counted for: the evidence's sample of ids.
CREATE TABLE audit.detection_accesses (
    subject    text NOT NULL,
    at         timestamptz NOT NULL,
    access_id  uuid NOT NULL,
    marks      text[] NOT NULL,
    PRIMARY KEY (subject, at, access_id)
);

-- Addresses and user agents each subject used: new addresses (D8) and links (D9, findings).
CREATE TABLE audit.detection_seen (
    subject     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('address', 'agent')),
    value       text NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    PRIMARY KEY (subject, kind, value)
);
CREATE INDEX detection_seen_shared ON audit.detection_seen (kind, value, last_seen);

-- When each principal last read each appointment: "unchanged since this principal read it".
CREATE TABLE audit.detection_reads (
    subject         text NOT NULL,
    appointment_id  uuid NOT NULL,
    last_read_at    timestamptz NOT NULL,
    PRIMARY KEY (subject, appointment_id)
);

-- Booking's appointments as detection needs them: whose, which agenda, when, last changed.
CREATE TABLE audit.detection_appointments (
    appointment_id   uuid PRIMARY KEY,
    practitioner_id  uuid NOT NULL,
    patient_id       uuid NOT NULL,
    start_at         timestamptz NOT NULL,
    changed_at       timestamptz NOT NULL
);
CREATE INDEX detection_appointments_agenda ON audit.detection_appointments (practitioner_id, start_at);
CREATE INDEX detection_appointments_patient ON audit.detection_appointments (patient_id, start_at);

-- Identity's grants of read access: a connector's reach, and agendas it held (honest 403s).
CREATE TABLE audit.detection_grants (
    connector_id     uuid NOT NULL,
    practitioner_id  uuid NOT NULL,
    granted_at       timestamptz NOT NULL,
    expires_at       timestamptz,
    revoked_at       timestamptz,                 -- NULL: not revoked since granted_at
    PRIMARY KEY (connector_id, practitioner_id)
);

-- Each connector's vendor (ConnectorRegistered): connectors of a small vendor are linked.
CREATE TABLE audit.detection_connectors (
    connector_id  uuid PRIMARY KEY,
    vendor        text NOT NULL
);
CREATE INDEX detection_connectors_vendor ON audit.detection_connectors (vendor);

-- Principals an operator trusts until a time (PrincipalTrusted): findings, review only.
CREATE TABLE audit.detection_trust (
    principal_id  uuid PRIMARY KEY,
    until         timestamptz NOT NULL
);

-- The last step each rule fired for a subject: quiet until cooled_until unless a higher step.
CREATE TABLE audit.detection_cooldowns (
    subject       text NOT NULL,
    rule          text NOT NULL,
    rank          smallint NOT NULL,              -- 0 review, 1 throttle, 2 suspend
    fired_at      timestamptz NOT NULL,
    cooled_until  timestamptz NOT NULL,
    PRIMARY KEY (subject, rule)
);

REVOKE ALL ON audit.detection_subjects, audit.detection_buckets, audit.detection_items,
    audit.detection_accesses, audit.detection_seen, audit.detection_reads,
    audit.detection_appointments, audit.detection_grants, audit.detection_connectors,
    audit.detection_trust, audit.detection_cooldowns FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON audit.detection_subjects, audit.detection_buckets,
    audit.detection_items, audit.detection_accesses, audit.detection_seen, audit.detection_reads,
    audit.detection_appointments, audit.detection_grants, audit.detection_connectors,
    audit.detection_trust, audit.detection_cooldowns TO carnet_audit;
