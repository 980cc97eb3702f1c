-- The build step asks "does another intent hold this wallet's slot?" and, when a holder is final,
-- wakes the oldest waiter: both look up intents of one wallet in the states from building on.
-- Without an index each of those was a scan of every intent ever submitted; this partial index
-- holds only intents in flight, so it stays small however long the history grows.
CREATE INDEX wf_intents_wallet_in_flight ON wf_intents (wallet, created_at, id)
  WHERE state IN ('delayed', 'building', 'signing', 'broadcast');
