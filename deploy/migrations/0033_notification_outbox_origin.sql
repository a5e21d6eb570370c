-- depends: 0032_audit_detection_registrant
-- Where a message came from, for its sends and their retries (issue #23): the triggering
-- event's correlation id and W3C trace context, so every attempt continues the booking's
-- trace and log correlation instead of starting its own. Ids only, never personal data.
ALTER TABLE notification.outbox ADD COLUMN origin jsonb NOT NULL DEFAULT '{}'::jsonb;
