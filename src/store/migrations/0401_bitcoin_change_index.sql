-- Coordinator Bitcoin adapter: the next unused change (internal branch) index per wallet.
-- Allocated with one atomic UPSERT … RETURNING before each PSBT is built, so two withdrawals —
-- in one process or in several coordinators sharing this database — never pay change to the
-- same address (address reuse links withdrawals on chain). An index whose build then fails is
-- skipped, never handed out again.
CREATE TABLE bitcoin_change_index (
  chain TEXT NOT NULL,
  wallet TEXT NOT NULL,
  next_index INTEGER NOT NULL CHECK (next_index >= 0),
  PRIMARY KEY (chain, wallet)
);
