-- depends: 0003_booking_event_store
-- Booking's read models (docs/booking.md). Slots and appointments are written in the same
-- transaction as the events they reflect, and `carnet replay rebuild booking.views` rebuilds
-- them from position 0 of booking's log. Medical fields stay sealed blobs here (per-patient
-- keys). The directory of patients and practitioners is fed by identity's events.

CREATE TABLE booking.slots (
    slot_id          uuid PRIMARY KEY,
    schedule_id      uuid NOT NULL,
    practitioner_id  uuid NOT NULL,
    start_at         timestamptz NOT NULL,
    end_at           timestamptz NOT NULL CHECK (end_at > start_at),
    service_type     text NOT NULL,
    appointment_id   uuid
);
CREATE INDEX slots_by_practitioner ON booking.slots (practitioner_id, start_at, slot_id);

CREATE TABLE booking.appointments (
    appointment_id   uuid PRIMARY KEY,
    version          integer NOT NULL,
    slot_id          uuid NOT NULL,
    practitioner_id  uuid NOT NULL,
    patient_id       uuid NOT NULL,
    start_at         timestamptz NOT NULL,
    end_at           timestamptz NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('booked', 'arrived', 'fulfilled', 'cancelled', 'noshow')),
    service_type     text NOT NULL,
    reason           jsonb,
    note             jsonb,
    booked_by        uuid NOT NULL,
    connector_id     uuid,
    updated_at       timestamptz NOT NULL
);
-- Searches page by (start_at, appointment_id) within a practitioner's agenda or a patient's.
CREATE INDEX appointments_by_practitioner
    ON booking.appointments (practitioner_id, start_at, appointment_id);
CREATE INDEX appointments_by_patient ON booking.appointments (patient_id, start_at, appointment_id);

-- Where the last rebuild of the views stopped in booking's gap-free log.
CREATE TABLE booking.view_positions (
    view_name        text PRIMARY KEY,
    transaction_id   xid8 NOT NULL,
    position         bigint NOT NULL,
    rebuilt_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE booking.patients (
    patient_id          uuid PRIMARY KEY,
    given_name          text NOT NULL,
    family_name         text NOT NULL,
    birth_date          date NOT NULL,
    gender              text NOT NULL,
    email               text,
    phone               text,
    preferred_language  text NOT NULL
);

CREATE TABLE booking.practitioners (
    practitioner_id  uuid PRIMARY KEY,
    given_name       text NOT NULL,
    family_name      text NOT NULL,
    specialty        text NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE
    ON booking.slots, booking.appointments, booking.view_positions,
       booking.patients, booking.practitioners
    TO carnet_booking;

-- Access records are most of booking's log and compress better and faster with lz4 than with
-- the default pglz (make bench-booking). Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE booking.events ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR syntax_error THEN
    RAISE NOTICE 'lz4 unavailable: booking.events keeps the default compression';
END
$$;
