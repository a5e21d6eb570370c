-- depends: 0007_audit_ledger
-- Detection state (docs/audit.md "Detection rules"): per-principal sliding windows kept as
-- per-minute buckets, the sets counted distinct per window, the addresses each principal used,
-- booking activity per practitioner, and each rule's cooldown. Working state, not evidence:
-- the ledger stays the proof. It is written in the transaction that appends the detection to
-- audit.events and claims the event id in audit.processed_events, and pruned past the longest
-- window, so carnet_audit may update and delete here (never in the ledger).

-- One row per principal: its lock (events of one principal are evaluated one at a time),
-- when it was first seen (D1's baseline span) and how far its buckets were pruned.
CREATE TABLE audit.detection_subjects (
    subject_id     uuid PRIMARY KEY,              -- the principal; a connector's is its id
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    pruned_before  timestamptz                    -- NULL: never pruned
);

-- Counters per principal per minute (event time).
CREATE TABLE audit.detection_buckets (
    subject_id     uuid NOT NULL,
    minute         timestamptz NOT NULL,
    accesses       integer NOT NULL DEFAULT 0,    -- access records, any outcome
    returned       integer NOT NULL DEFAULT 0,    -- appointments returned by successful reads
    denied         integer NOT NULL DEFAULT 0,    -- refused reads, any reason
    reach_denied   integer NOT NULL DEFAULT 0,    -- refused as outside the grants (D3)
    auth_failures  integer NOT NULL DEFAULT 0,    -- failed sign-ins naming the connector (D4)
    deep_pages     integer NOT NULL DEFAULT 0,    -- maximal pages or cursor follow-ups (D6)
    PRIMARY KEY (subject_id, minute)
);

-- Patients, appointments and practitioners read successfully, per principal per minute.
CREATE TABLE audit.detection_items (
    subject_id  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('patient', 'appointment', 'practitioner')),
    minute      timestamptz NOT NULL,
    item_id     uuid NOT NULL,
    PRIMARY KEY (subject_id, kind, minute, item_id)
);

-- Access records per principal, for the evidence's sample of access ids.
CREATE TABLE audit.detection_accesses (
    subject_id    uuid NOT NULL,
    at            timestamptz NOT NULL,
    access_id     uuid NOT NULL,
    denied        boolean NOT NULL,
    reach_denied  boolean NOT NULL,
    deep_page     boolean NOT NULL,
    PRIMARY KEY (subject_id, at, access_id)
);

-- Every network address a principal used; `authenticated` = valid credentials came from it
-- (a token issued, an access recorded), which is what D5 compares against. Never pruned.
CREATE TABLE audit.detection_addresses (
    subject_id     uuid NOT NULL,
    address        text NOT NULL,
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    authenticated  boolean NOT NULL,
    PRIMARY KEY (subject_id, address)
);

-- Booking activity (AppointmentBooked): which patients each practitioner has booked (D2).
CREATE TABLE audit.detection_bookings (
    practitioner_id  uuid NOT NULL,
    patient_id       uuid NOT NULL,
    last_booked_at   timestamptz NOT NULL,
    PRIMARY KEY (practitioner_id, patient_id)
);

-- A rule that fired for a principal stays quiet until cooled_until (one finding per window).
CREATE TABLE audit.detection_cooldowns (
    subject_id    uuid NOT NULL,
    rule          text NOT NULL,
    fired_at      timestamptz NOT NULL,
    cooled_until  timestamptz NOT NULL,
    PRIMARY KEY (subject_id, rule)
);

REVOKE ALL ON audit.detection_subjects, audit.detection_buckets, audit.detection_items,
    audit.detection_accesses, audit.detection_addresses, audit.detection_bookings,
    audit.detection_cooldowns FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON audit.detection_subjects, audit.detection_buckets,
    audit.detection_items, audit.detection_accesses, audit.detection_addresses,
    audit.detection_bookings, audit.detection_cooldowns TO carnet_audit;
