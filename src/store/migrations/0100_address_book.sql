-- Address book (policy engine). One row per (chain, address); `address_key` is the normalised form
-- used for uniqueness and lookups (lower-case for EVM, exact for Bitcoin), `address` is kept as
-- entered (EIP-55 checksummed). `active_from` = added_at + cool-down, never below the policy floor
-- (enforced by the writer and re-checked by the evaluator).
CREATE TABLE address_book (
  chain        text NOT NULL,
  address_key  text NOT NULL,
  address      text NOT NULL,
  label        text NOT NULL,
  category     text NOT NULL,
  owner        text,
  status       text NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
  added_at     text NOT NULL,          -- RFC 3339 UTC
  active_from  text NOT NULL,          -- RFC 3339 UTC
  revoked_at   text,
  PRIMARY KEY (chain, address_key),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

CREATE INDEX address_book_chain ON address_book (chain);

-- Screening list loads: which list set (digest) was in force from when, per provider.
CREATE TABLE screening_list_loads (
  id           bigserial PRIMARY KEY,
  provider     text NOT NULL,
  digest       text NOT NULL,
  lists        text NOT NULL,          -- canonical JSON [{name, digest, entries}]
  loaded_at    text NOT NULL
);
