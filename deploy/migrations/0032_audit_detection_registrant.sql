-- depends: 0030_audit_index_guard_per_statement
-- Linked principals by client registration (issue #19): connectors registered under one
-- contact e-mail are one registrant's, whatever vendor name each was given. Kept as a
-- domain-separated SHA-256 (observe.registrant), not the address: detection needs equality.
-- NULL for connectors registered before this migration until identity's events are replayed.
ALTER TABLE audit.detection_connectors ADD COLUMN registrant text;
CREATE INDEX detection_connectors_registrant ON audit.detection_connectors (registrant);
