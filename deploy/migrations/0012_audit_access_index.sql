-- depends: 0007_audit_ledger
-- The access index (docs/audit.md): projections of the ledger's AppointmentsAccessed rows, one
-- row per access record and one per (record, appointment), so that "who read this appointment,
-- this patient, with this connector, in this window" is an index scan, not a ledger scan.
-- Projections, not evidence: rebuildable from seq 0 (`carnet replay rebuild audit.access_index`),
-- their position kept in audit.projection_positions and moved in the same transaction as their
-- rows. The ledger stays the proof (append-only, verified); carnet_audit may rewrite these freely.

CREATE TABLE audit.access_requests (
    seq                bigint PRIMARY KEY,        -- the ledger row this record was read from
    access_id          uuid,
    principal_kind     text,
    principal_id       uuid,
    connector_id       uuid,
    network_address    text,
    user_agent         text,
    request_id         text,
    operation          text,
    query              text,
    purpose            text,
    outcome            text,
    denial_reason      text,
    field_classes      text[] NOT NULL DEFAULT '{}',
    medical_decrypted  boolean,
    result_count       integer,
    occurred_at        timestamptz NOT NULL       -- the ledger row's occurred_at, else recorded_at
);
CREATE INDEX access_requests_access_idx ON audit.access_requests (access_id);
CREATE INDEX access_requests_principal_idx ON audit.access_requests (principal_id, occurred_at);
CREATE INDEX access_requests_connector_idx ON audit.access_requests (connector_id, occurred_at);
CREATE INDEX access_requests_time_idx ON audit.access_requests (occurred_at);

-- One row per appointment an access record names. booking uses the record's event id as its
-- access_id, and the ledger keeps one row per event id, so (seq, appointment) is also one row
-- per (access_id, appointment). patient_id is NULL when the record did not pair them (V1).
CREATE TABLE audit.access_entries (
    seq              bigint NOT NULL REFERENCES audit.access_requests (seq) ON DELETE CASCADE,
    access_id        uuid,
    appointment_id   uuid NOT NULL,
    patient_id       uuid,
    practitioner_id  uuid,
    principal_id     uuid,
    connector_id     uuid,
    occurred_at      timestamptz NOT NULL,
    PRIMARY KEY (seq, appointment_id)
);
CREATE INDEX access_entries_appointment_idx ON audit.access_entries (appointment_id, occurred_at);
CREATE INDEX access_entries_patient_idx ON audit.access_entries (patient_id, occurred_at);
CREATE INDEX access_entries_principal_idx ON audit.access_entries (principal_id, occurred_at);
CREATE INDEX access_entries_connector_idx ON audit.access_entries (connector_id, occurred_at);

-- How far each projection of the ledger has read (the ledger's seq is gap-free, ADR 0006).
CREATE TABLE audit.projection_positions (
    name        text PRIMARY KEY,
    seq         bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit.projection_positions (name, seq) VALUES ('access_index', 0);

-- Trace reads an appointment's own stream, and the slot events that name it, from the ledger.
CREATE INDEX ledger_stream_idx ON audit.ledger (stream_id, stream_version);
CREATE INDEX ledger_slot_appointment_idx ON audit.ledger ((payload ->> 'appointment_id'), seq)
    WHERE event_type IN ('SlotHeld', 'SlotReleased');

REVOKE ALL ON audit.access_requests, audit.access_entries, audit.projection_positions
    FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON audit.access_requests, audit.access_entries, audit.projection_positions TO carnet_audit;
