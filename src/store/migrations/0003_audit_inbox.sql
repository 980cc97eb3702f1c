-- Staged audit entries (the workflow's hot path). A state change writes its audit entry here in
-- its own transaction, so the two commit together (I5 + I6), without taking the log's append lock:
-- holding that lock through every workflow commit serializes the whole coordinator behind one
-- fsync at a time. A sealer (src/store/audit.ts) moves staged rows into the hash chain in id order,
-- many per transaction, under the append lock, usually within milliseconds.
--
-- Until sealed, a row is covered by no hash: someone who can write to the database could edit it
-- in that window, which is no more than such a writer can do anyway (append a forged entry to the
-- head of the chain); once sealed it is tamper-evident like every other entry. Rows are only ever
-- inserted and, by the sealer, deleted: UPDATE is refused.
CREATE TABLE audit_inbox (
  id         bigserial PRIMARY KEY,
  kind       text NOT NULL,
  actor      text NOT NULL,
  subject    text NOT NULL,
  body       text NOT NULL           -- RFC 8785 canonical JSON, as it will be hashed
);

CREATE TRIGGER audit_inbox_no_update BEFORE UPDATE ON audit_inbox
  FOR EACH ROW EXECUTE FUNCTION custos_append_only();
