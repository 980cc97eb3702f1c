-- Group-commit fast path for the audit log: one round trip appends a whole batch.
--
-- Takes the append lock, then checks that the head is still the one the caller chained onto, then
-- inserts; returns false (inserting nothing) if another writer moved the head. This is a VOLATILE
-- function, so under READ COMMITTED each statement inside it takes a fresh snapshot: the head is
-- read after the lock is granted and sees every append committed before. Called outside an explicit
-- transaction it commits on return, releasing the transaction-scoped lock.
CREATE FUNCTION custos_audit_append(
  lock_key bigint,
  expected_head text,
  seqs bigint[], ats text[], kinds text[], actors text[], subjects text[], bodies text[],
  prevs text[], hashes text[]
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  head text;
BEGIN
  PERFORM pg_advisory_xact_lock(lock_key);
  SELECT hash INTO head FROM audit_log ORDER BY seq DESC LIMIT 1;
  IF head IS DISTINCT FROM expected_head THEN
    RETURN false;
  END IF;
  INSERT INTO audit_log (seq, at, kind, actor, subject, body, prev_hash, hash)
    SELECT * FROM unnest(seqs, ats, kinds, actors, subjects, bodies, prevs, hashes);
  RETURN true;
END;
$$;
