-- Tamper-evident audit log (invariant I5). Append-only: a trigger refuses UPDATE, DELETE and
-- TRUNCATE; the hash chain and signed checkpoints detect edits made by someone who disables it.
CREATE TABLE audit_log (
  seq        bigint PRIMARY KEY,
  at         text NOT NULL,          -- RFC 3339 UTC, as hashed
  kind       text NOT NULL,
  actor      text NOT NULL,
  subject    text NOT NULL,
  body       text NOT NULL,          -- RFC 8785 canonical JSON, as hashed
  prev_hash  text NOT NULL,
  hash       text NOT NULL UNIQUE,
  -- No two entries may share a predecessor: the database itself refuses a fork of the chain.
  UNIQUE (prev_hash)
);

CREATE TABLE audit_checkpoints (
  seq        bigint PRIMARY KEY,
  hash       text NOT NULL,
  at         text NOT NULL,
  key_id     text NOT NULL,
  signature  text NOT NULL
);

CREATE FUNCTION custos_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'custos: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION custos_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION custos_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION custos_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION custos_append_only();
