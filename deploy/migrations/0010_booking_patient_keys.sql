-- depends: 0003_booking_event_store
-- Per-patient data keys for booking's medical fields (services/booking/crypto.py). Events carry
-- only AES-GCM blobs sealed with the patient's key; erasing a patient shreds the key, so every
-- blob of theirs, in the log and in any copy of it, becomes unreadable.
--
-- Deliberately mutable, unlike booking.events: crypto-shredding must really remove key material,
-- which an append-only table cannot do. The row stays as a tombstone (key_id, destroyed_at), so
-- "this patient was erased" is remembered and no new key can be created for them.
CREATE TABLE booking.patient_keys (
    patient_id    uuid PRIMARY KEY,
    key_id        text NOT NULL UNIQUE,
    -- The data key wrapped by the master key (AES-GCM, AAD bound to patient_id); NULL = shredded.
    wrapped_key   bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    destroyed_at  timestamptz,
    CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);

-- No DELETE: shredding is an UPDATE to NULL that keeps the tombstone. UPDATE only on the two
-- columns shredding touches, so the service cannot move a key to another patient or rename it.
GRANT SELECT, INSERT, UPDATE (wrapped_key, destroyed_at) ON booking.patient_keys
    TO carnet_booking;
