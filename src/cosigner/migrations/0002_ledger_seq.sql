-- Insertion order of the ledger (rows are inserted under the signing lock, so seq order is commit
-- order): lets the co-signer keep its velocity index in memory and read only new rows.
ALTER TABLE cosigner_ledger ADD COLUMN seq bigserial;
CREATE UNIQUE INDEX cosigner_ledger_seq ON cosigner_ledger (seq);
-- Digest of the request's `tx` payload (JCS), to answer a retried identical request from the ledger.
ALTER TABLE cosigner_ledger ADD COLUMN request_tx_digest text NOT NULL DEFAULT '';
