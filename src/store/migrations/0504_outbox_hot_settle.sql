-- An outbox row is written once with its content (~1.1 kB: the unsigned transaction, a signature
-- request) and then settled with its result (status, result, attempts, updated_at), none of which
-- is indexed. On full pages every settle moved the row to another page: a whole new ~1.6 kB tuple
-- in the WAL plus a primary-key entry (measured: 2.7 such updates per withdrawal, 4.4 kB of the
-- withdrawal's ~37 kB of WAL). With room left on each page the settle is a HOT update on the same
-- page, logged as the changed bytes only, and the index is not touched.
ALTER TABLE wf_outbox SET (fillfactor = 70);
