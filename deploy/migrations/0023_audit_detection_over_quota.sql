-- depends: 0022_audit_detection_sync
-- D10 (docs/detection.md): reads refused over quota (429) per subject per minute, so a client
-- that asks again at once instead of waiting Retry-After is throttled, then suspended.
ALTER TABLE audit.detection_buckets
    ADD COLUMN over_quota integer NOT NULL DEFAULT 0;
