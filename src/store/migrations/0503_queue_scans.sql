-- Claims and seal looks must not cost more as the queue's history grows.
--
-- A worker lane claims one kind of job at a time. Through wf_jobs_ready (run_at, id) a claim read
-- every queued entry of every kind due so far, and PostgreSQL chose a bitmap scan for it: bitmap
-- scans never mark dead index entries, so each claim also re-read every entry left behind by a
-- job since completed, until the next vacuum (measured: 7,341 entries and 213 heap pages for a
-- claim that found nothing, 1.2 ms, after ~1,000 withdrawals). Keyed by kind first, a lane's claim
-- is an ordered index scan over its own kind only, which stops at the limit and marks the dead
-- entries it meets so the next scan skips them.
CREATE INDEX wf_jobs_ready_kind ON wf_jobs (kind, run_at, id) WHERE status = 'queued';

-- Queue and inbox rows are updated or deleted within seconds of their insert: vacuum them after a
-- fixed number of dead rows, not after 20% of the table (which, on a table holding the whole job
-- history, is hours of dead entries at a steady rate). Room on each page lets a claim's update
-- (lease, lock) stay on its page without a new index entry (a HOT update).
ALTER TABLE wf_jobs SET (
  fillfactor = 80,
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 2000,
  autovacuum_analyze_scale_factor = 0.05
);
ALTER TABLE audit_inbox SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 2000
);
