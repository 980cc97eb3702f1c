import type { Hex } from '../core/chains/evm/types.ts';
import type { MatchCandidates, MatchLookup } from '../core/chains/evm/watch.ts';
import { coalesce } from '../store/coalesce.ts';
import type { Queryable } from '../store/db.ts';

/** What the coordinator records before handing back a Safe signature (I7). */
export interface KnownSafeTx {
  wallet: string;
  safeTxHash: Hex;
  nonce: bigint;
  intentId: string;
  at: string;
}

/** What the coordinator records before broadcasting a transaction (I7). */
export interface KnownTx {
  txHash: Hex;
  wallet: string;
  intentId: string;
  kind: 'safe-exec' | 'hot';
  safeTxHash?: Hex;
  at: string;
}

/** A lookup the watchtower can warm with one query per block before matching synchronously. */
export interface PreparedLookup extends MatchLookup {
  prepare(c: MatchCandidates): Promise<void>;
}

/**
 * Store of what Custos signed/broadcast on one EVM chain (migration 0301_evm_known.sql), and the
 * watchtower lookup over it. Hashes are stored lowercase.
 */
export function evmKnownStore(db: Queryable, chain: string) {
  /**
   * Every Safe transaction and every transaction recorded in one turn of the event loop (a batch
   * of finalizations records both for each Safe withdrawal) goes in with ONE statement: both
   * inserts in one data-modifying CTE, so one commit, not one per table.
   */
  const record = coalesce<{ safe?: KnownSafeTx; tx?: KnownTx }>(async (items) => {
    const safes = items.flatMap((i) => (i.safe ? [i.safe] : []));
    const txs = items.flatMap((i) => (i.tx ? [i.tx] : []));
    await db.query(
      `WITH s AS (
         INSERT INTO evm_known_safe_tx (chain, wallet, safe_tx_hash, nonce, intent_id, recorded_at)
         SELECT $1, wallet, safe_tx_hash, nonce, intent_id, recorded_at
         FROM unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[])
           AS r(wallet, safe_tx_hash, nonce, intent_id, recorded_at)
         ON CONFLICT DO NOTHING)
       INSERT INTO evm_known_tx (chain, tx_hash, wallet, intent_id, kind, safe_tx_hash, recorded_at)
       SELECT $1, tx_hash, wallet, intent_id, kind, safe_tx_hash, recorded_at
       FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
         AS r(tx_hash, wallet, intent_id, kind, safe_tx_hash, recorded_at)
       ON CONFLICT DO NOTHING`,
      [
        chain,
        safes.map((r) => r.wallet),
        safes.map((r) => r.safeTxHash.toLowerCase()),
        safes.map((r) => r.nonce.toString()),
        safes.map((r) => r.intentId),
        safes.map((r) => r.at),
        txs.map((r) => r.txHash.toLowerCase()),
        txs.map((r) => r.wallet),
        txs.map((r) => r.intentId),
        txs.map((r) => r.kind),
        txs.map((r) => r.safeTxHash?.toLowerCase() ?? null),
        txs.map((r) => r.at),
      ],
    );
  });
  return {
    /** Concurrent calls (a batch of finalizations) share one statement (see `record`). */
    recordSafeTx: (r: KnownSafeTx) => record({ safe: r }),
    /** Concurrent calls share one statement (see `record`). */
    recordTx: (r: KnownTx) => record({ tx: r }),
    async recordReceipt(
      txHash: Hex,
      r: { blockNumber: bigint; blockHash: Hex; status: 'success' | 'reverted' },
    ): Promise<void> {
      await db.query(
        'UPDATE evm_known_tx SET block_number = $3::bigint, block_hash = $4, status = $5 WHERE chain = $1 AND tx_hash = $2',
        [chain, txHash.toLowerCase(), r.blockNumber.toString(), r.blockHash, r.status],
      );
    },
    /** The watchtower lookup: `prepare` loads the block's candidates, then the checks are in memory. */
    lookup(): PreparedLookup {
      let txs = new Set<string>();
      let safeTxs = new Set<string>();
      return {
        async prepare(c) {
          const t = c.txHashes.length
            ? await db.query<{ tx_hash: string }>(
                'SELECT tx_hash FROM evm_known_tx WHERE chain = $1 AND tx_hash = ANY($2::text[])',
                [chain, c.txHashes.map((h) => h.toLowerCase())],
              )
            : { rows: [] };
          const s = c.safeTxs.length
            ? await db.query<{ wallet: string; safe_tx_hash: string }>(
                'SELECT wallet, safe_tx_hash FROM evm_known_safe_tx WHERE chain = $1 AND safe_tx_hash = ANY($2::text[])',
                [chain, c.safeTxs.map((x) => x.safeTxHash.toLowerCase())],
              )
            : { rows: [] };
          txs = new Set(t.rows.map((r) => r.tx_hash));
          safeTxs = new Set(s.rows.map((r) => `${r.wallet}:${r.safe_tx_hash}`));
        },
        isKnownTx: (h) => txs.has(h.toLowerCase()),
        isKnownSafeTx: (wallet, h) => safeTxs.has(`${wallet}:${h.toLowerCase()}`),
      };
    },
  };
}
