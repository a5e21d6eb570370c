-- depends: 0012_audit_access_index
-- Every attempt in the access index, and the ledger's registrations, findings and measures found
-- by index (issue #19, ADR 0014).
--
-- 1. The access index keeps why a read was refused (AppointmentsAccessed V3 `denial_code`) and
--    the presented token's fingerprint (a refused token has no principal), and is searched by
--    address (an address subject, related activity). Rows indexed before this migration read
--    NULL here until `carnet replay rebuild audit.access_index`; readers class a NULL code by
--    its reason, as the contract's upcaster does.
ALTER TABLE audit.access_requests ADD COLUMN denial_code text, ADD COLUMN token_fingerprint text;
CREATE INDEX access_requests_address_idx ON audit.access_requests (network_address, occurred_at);

-- 2. What a refused read aimed at (V3 `targets`), apart from what reads returned
--    (access_entries): nothing that counts exposure can mistake an attempt for a disclosure,
--    and a patient's access list finds the attempts on their appointments by index.
CREATE TABLE audit.access_targets (
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
CREATE INDEX access_targets_appointment_idx ON audit.access_targets (appointment_id, occurred_at);
CREATE INDEX access_targets_patient_idx ON audit.access_targets (patient_id, occurred_at);
REVOKE ALL ON audit.access_targets FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON audit.access_targets TO carnet_audit;

-- 3. Registrations (who a subject is, a vendor's connectors) and the findings and measures an
--    incident lists are a small part of the ledger: a partial index finds them without a scan.
CREATE INDEX ledger_subjects_idx ON audit.ledger (event_type, seq)
    WHERE event_type IN (
        'ConnectorRegistered', 'PatientRegistered', 'PractitionerRegistered', 'StaffRegistered',
        'SuspiciousAccessDetected', 'ConnectorSuspended', 'ConnectorReinstated',
        'ConnectorAuthorizationRevoked', 'ConnectorSecretRotated', 'AccountSuspended',
        'AccountReinstated', 'CredentialsReset', 'QuotaSet', 'PrincipalTrusted');
