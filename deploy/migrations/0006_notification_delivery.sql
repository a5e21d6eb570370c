-- depends: 0004_notification_event_store
-- Notification's read models (contacts, practitioners, appointments) built from identity's and
-- booking's events, and its delivery outbox. Personal data here never leaves this schema except
-- in the message sent to the patient.
CREATE TABLE notification.contacts (
    patient_id   uuid PRIMARY KEY,
    given_name   text NOT NULL,
    family_name  text NOT NULL,
    email        text,
    phone        text,
    language     text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification.practitioners (
    practitioner_id uuid PRIMARY KEY,
    display_name    text NOT NULL
);

-- The latest state of each appointment, by stream version: events may arrive out of order.
CREATE TABLE notification.appointments (
    appointment_id  uuid PRIMARY KEY,
    patient_id      uuid NOT NULL,
    practitioner_id uuid NOT NULL,
    start_at        timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('booked', 'cancelled')),
    stream_version  int NOT NULL
);

-- One row per message to send; notification_id is derived from the trigger, so a redelivered
-- event can never add a second row. A sender claims a row by lease (a short transaction),
-- sends outside any transaction, then records the outcome (docs/notification.md).
CREATE TABLE notification.outbox (
    notification_id uuid PRIMARY KEY,
    source_event_id uuid NOT NULL,
    template        text NOT NULL,
    patient_id      uuid NOT NULL,
    appointment_id  uuid,
    context         jsonb NOT NULL,
    due_at          timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        int NOT NULL DEFAULT 0,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_pending_due ON notification.outbox (due_at) WHERE state = 'pending';
CREATE INDEX outbox_pending_appointment
    ON notification.outbox (appointment_id) WHERE state = 'pending';

GRANT SELECT, INSERT, UPDATE, DELETE
    ON notification.contacts, notification.practitioners, notification.appointments,
       notification.outbox
    TO carnet_notification;
