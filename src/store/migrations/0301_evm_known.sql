-- What Custos signed and broadcast on EVM chains (issue 5, items 5 and 6). The coordinator records
-- a safeTxHash when its co-signers have signed it and a transaction hash when it relays or
-- broadcasts; the watchtower matches every custody outflow against these rows and raises a
-- critical alert for anything else. Rows are never updated except to add the receipt outcome.
CREATE TABLE evm_known_safe_tx (
  chain         text NOT NULL,
  wallet        text NOT NULL,
  safe_tx_hash  text NOT NULL,
  nonce         numeric(78, 0) NOT NULL,
  intent_id     text NOT NULL,
  recorded_at   text NOT NULL,          -- RFC 3339 UTC, from the caller's clock
  PRIMARY KEY (chain, wallet, safe_tx_hash)
);

CREATE TABLE evm_known_tx (
  chain         text NOT NULL,
  tx_hash       text NOT NULL,
  wallet        text NOT NULL,
  intent_id     text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('safe-exec', 'hot')),
  safe_tx_hash  text,
  block_number  bigint,
  block_hash    text,
  status        text CHECK (status IN ('success', 'reverted')),
  recorded_at   text NOT NULL,
  PRIMARY KEY (chain, tx_hash)
);
