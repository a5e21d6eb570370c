-- depends: 0011_booking_read_models
-- Read quotas (ADR 0014, docs/booking.md#quotas) and delta sync (`_lastUpdated`).

-- One token bucket per subject ('connector:<uuid>', 'patient:<uuid>', 'address:<ip>'…), shared
-- by every booking replica: `tokens` as of `at`, refilled at the subject's rate on each check.
-- UNLOGGED: a check is a write on every read, and an unlogged write needs no WAL flush at
-- commit. The price: after a PostgreSQL crash or a failover the table is empty, so every
-- bucket starts full again (one burst more, once); the hourly bound is unchanged.
CREATE UNLOGGED TABLE booking.quota_buckets (
    subject  text PRIMARY KEY,
    tokens   double precision NOT NULL,
    at       timestamptz NOT NULL
);

-- Quotas an admin or a throttle set at identity (QuotaSet), one row per principal and reason,
-- fed by booking's consumer (inbox: once). The active row (until NULL or ahead) set last in
-- identity's log wins over the default of the principal's kind; when a throttle expires, the
-- operator's setting (if any) applies again.
CREATE TABLE booking.quotas (
    principal_id        uuid NOT NULL,
    reason              text NOT NULL CHECK (reason IN ('operator', 'throttle')),
    principal_kind      text NOT NULL,
    per_hour            integer NOT NULL CHECK (per_hour > 0),
    burst               integer NOT NULL CHECK (burst > 0),
    until               timestamptz,
    detection_id        uuid,
    set_by              uuid,
    source_position     bigint NOT NULL,
    updated_from_event  uuid NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, reason)
);

-- A delta sync (`_lastUpdated=gt…` within granted agendas) finds the few changed rows of an
-- agenda here instead of walking the whole agenda by start time.
CREATE INDEX appointments_by_practitioner_updated
    ON booking.appointments (practitioner_id, updated_at);

GRANT SELECT, INSERT, UPDATE ON booking.quota_buckets, booking.quotas TO carnet_booking;
