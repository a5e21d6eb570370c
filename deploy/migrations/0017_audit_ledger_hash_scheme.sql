-- depends: 0016_audit_ledger_staging
-- Entry format v2 (issue #20): each ledger row says which canonical form its hash is over.
-- 1: the original (CPython's sorted, compact json.dumps); 2: RFC 8785 (JCS), which any
-- language can recompute. Rows already written keep 1 and still verify; new rows are 2.
ALTER TABLE audit.ledger ADD COLUMN hash_scheme smallint NOT NULL DEFAULT 1
    CHECK (hash_scheme IN (1, 2));
