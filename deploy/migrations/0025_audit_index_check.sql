-- depends: 0024_audit_ledger_completeness
-- A checked index (issue #20, docs/audit.md "A checked index"): before a report is served, the
-- access records of its window are read again from the ledger and derived again. This finds
-- them by time without reading the rest of the ledger: one entry per access record.
CREATE INDEX ledger_access_time_idx ON audit.ledger ((coalesce(occurred_at, recorded_at)))
    WHERE source_service = 'booking' AND event_type = 'AppointmentsAccessed';
