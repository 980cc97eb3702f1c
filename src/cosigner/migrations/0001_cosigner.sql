-- The co-signer's own store (separate database from the coordinator's; PGlite by default).

-- Trust bundles this co-signer verified, newest last. The raw chain is kept and re-verified from
-- the pinned genesis admin keys at every start: a row forged in this table is refused (T8).
CREATE TABLE cosigner_bundles (
  sequence   integer PRIMARY KEY,
  hash       text NOT NULL UNIQUE,
  chain      jsonb NOT NULL,
  verified_at timestamptz NOT NULL DEFAULT now()
);

-- Signed-request nonces seen inside the replay window (refuses a replayed request).
CREATE TABLE cosigner_request_nonces (
  key_id  text NOT NULL,
  nonce   text NOT NULL,
  seen_ms bigint NOT NULL,
  PRIMARY KEY (key_id, nonce)
);
CREATE INDEX cosigner_request_nonces_seen ON cosigner_request_nonces (seen_ms);

-- What this co-signer signed: one row per intent (I8), the velocity ledger for policy limits,
-- and the stored result so the same transaction asked again gets the same signature back.
CREATE TABLE cosigner_ledger (
  intent_id     text PRIMARY KEY,
  intent_digest text NOT NULL,
  wallet        text NOT NULL,
  chain         text NOT NULL,
  asset         text NOT NULL,
  destination   text NOT NULL,
  amount        text NOT NULL,
  requested_by  text NOT NULL,
  tx_kind       text NOT NULL,
  tx_hash       text NOT NULL,
  result        jsonb NOT NULL,
  signed_at     timestamptz NOT NULL
);
CREATE INDEX cosigner_ledger_signed_at ON cosigner_ledger (signed_at);

-- Every resource a signed transaction consumes: an EVM (chain, wallet, nonce) or a Bitcoin
-- outpoint. The primary key makes "two different transactions spending one nonce/UTXO" a
-- constraint violation, not just a check (I8).
CREATE TABLE cosigner_spends (
  spend_key text PRIMARY KEY,
  intent_id text NOT NULL REFERENCES cosigner_ledger (intent_id),
  tx_hash   text NOT NULL
);

-- Refusals, hash-chained: hash = SHA-256(tag || prev_hash || JCS(entry)) (I5).
CREATE TABLE cosigner_refusals (
  seq        bigint PRIMARY KEY,
  at         text NOT NULL,
  code       text NOT NULL,
  step       text NOT NULL,
  intent_id  text,
  request_digest text NOT NULL,
  details    jsonb NOT NULL,
  prev_hash  text NOT NULL,
  hash       text NOT NULL UNIQUE
);
