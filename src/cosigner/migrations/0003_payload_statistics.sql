-- No planner statistics for payload columns (see the coordinator's 0505_payload_statistics.sql):
-- nothing filters on a stored signature result or a refusal's details, and sampling them was most
-- of an ANALYZE's work.
ALTER TABLE cosigner_ledger ALTER COLUMN result SET STATISTICS 0;
ALTER TABLE cosigner_refusals ALTER COLUMN details SET STATISTICS 0;
