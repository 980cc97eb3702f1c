-- Bitcoin watchtower (issue 6, item 6; invariant I7).
-- bitcoin_watch_blocks: the scanned chain per CAIP-2 chain id with parent hashes; the highest row is
-- the cursor. A new block whose parent is not the stored tip means a reorg: rows above the fork are
-- removed and the UTXO changes they made are undone, then the new branch is scanned.
CREATE TABLE bitcoin_watch_blocks (
  chain      text   NOT NULL,
  height     bigint NOT NULL,
  hash       text   NOT NULL,
  prev_hash  text   NOT NULL,
  PRIMARY KEY (chain, height)
);

-- Custody UTXOs seen on chain (created by a block, spent by a block), so spends are recognized
-- whichever transaction makes them.
CREATE TABLE bitcoin_watch_utxos (
  chain          text   NOT NULL,
  txid           text   NOT NULL,
  vout           integer NOT NULL,
  wallet         text   NOT NULL,
  value_sat      bigint NOT NULL,
  created_height bigint NOT NULL,
  spent_height   bigint,
  spent_txid     text,
  PRIMARY KEY (chain, txid, vout)
);
CREATE INDEX bitcoin_watch_utxos_unspent ON bitcoin_watch_utxos (chain) WHERE spent_height IS NULL;

-- Transactions Custos signed (recorded by the coordinator after combine/finalize, before
-- broadcast). An outflow whose txid is not here is UNMATCHED_OUTFLOW.
CREATE TABLE bitcoin_signed_txs (
  chain      text NOT NULL,
  txid       text NOT NULL,
  intent_id  text NOT NULL,
  PRIMARY KEY (chain, txid)
);

-- Alerts raised, one per (chain, txid, wallet, block): re-scanning a block after a restart does
-- not raise the same alert twice; the same transaction mined again after a reorg does.
CREATE TABLE bitcoin_watch_alerts (
  chain   text   NOT NULL,
  txid    text   NOT NULL,
  wallet  text   NOT NULL,
  height  bigint NOT NULL,
  hash    text   NOT NULL,
  body    text   NOT NULL,
  PRIMARY KEY (chain, txid, wallet, hash)
);
