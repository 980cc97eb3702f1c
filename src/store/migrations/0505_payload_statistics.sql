-- No planner statistics for payload columns. Nothing filters, joins or sorts on them (a signed
-- body, a transaction, a policy trace, a job's arguments), so their statistics never inform a
-- plan, and they were most of an ANALYZE's work: each sampled value detoasted, hashed and sorted
-- (measured on the e2e bench: 50–160 ms per ANALYZE of wf_outbox, audit_log or wf_transitions at a
-- few thousand withdrawals). ANALYZE, by autovacuum or by Custos's own upkeep where autovacuum is
-- off (src/store/statistics.ts), now samples the columns that lookups use. The hash columns of
-- the audit log are unique: the planner estimates an equality on them from their unique index.
ALTER TABLE audit_log ALTER COLUMN body SET STATISTICS 0,
  ALTER COLUMN prev_hash SET STATISTICS 0,
  ALTER COLUMN hash SET STATISTICS 0;
ALTER TABLE audit_inbox ALTER COLUMN body SET STATISTICS 0;
ALTER TABLE wf_intents ALTER COLUMN intent_json SET STATISTICS 0,
  ALTER COLUMN signature SET STATISTICS 0,
  ALTER COLUMN decision SET STATISTICS 0,
  ALTER COLUMN failure SET STATISTICS 0;
ALTER TABLE wf_transitions ALTER COLUMN details SET STATISTICS 0;
ALTER TABLE wf_jobs ALTER COLUMN payload SET STATISTICS 0,
  ALTER COLUMN last_error SET STATISTICS 0;
ALTER TABLE wf_outbox ALTER COLUMN content SET STATISTICS 0,
  ALTER COLUMN result SET STATISTICS 0;
ALTER TABLE idempotency_keys ALTER COLUMN response SET STATISTICS 0;
