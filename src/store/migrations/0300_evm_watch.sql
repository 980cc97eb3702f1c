-- EVM watchtower cursor (issue 5, item 6): the last scanned blocks per chain with their hashes,
-- so a restart resumes where it stopped and a reorg (a stored hash that no longer matches the
-- chain) rewinds to the common ancestor and re-scans. Only the most recent blocks are kept.
CREATE TABLE evm_watch_blocks (
  chain        text   NOT NULL,
  number       bigint NOT NULL,
  hash         text   NOT NULL,
  parent_hash  text   NOT NULL,
  PRIMARY KEY (chain, number)
);
