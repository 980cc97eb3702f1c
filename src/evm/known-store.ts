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
  return {
    /** Concurrent calls (a batch of finalizations) share one INSERT. */
    recordSafeTx: coalesce<KnownSafeTx>(async (rows) => {
      await db.query(
        `INSERT INTO evm_known_safe_tx (chain, wallet, safe_tx_hash, nonce, intent_id, recorded_at)
         SELECT $1, wallet, safe_tx_hash, nonce, intent_id, recorded_at
         FROM unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[])
           AS r(wallet, safe_tx_hash, nonce, intent_id, recorded_at)
         ON CONFLICT DO NOTHING`,
        [
          chain,
          rows.map((r) => r.wallet),
          rows.map((r) => r.safeTxHash.toLowerCase()),
          rows.map((r) => r.nonce.toString()),
          rows.map((r) => r.intentId),
          rows.map((r) => r.at),
        ],
      );
    }),
    /** Concurrent calls share one INSERT. */
    recordTx: coalesce<KnownTx>(async (rows) => {
      await db.query(
        `INSERT INTO evm_known_tx (chain, tx_hash, wallet, intent_id, kind, safe_tx_hash, recorded_at)
         SELECT $1, tx_hash, wallet, intent_id, kind, safe_tx_hash, recorded_at
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
           AS r(tx_hash, wallet, intent_id, kind, safe_tx_hash, recorded_at)
         ON CONFLICT DO NOTHING`,
        [
          chain,
          rows.map((r) => r.txHash.toLowerCase()),
          rows.map((r) => r.wallet),
          rows.map((r) => r.intentId),
          rows.map((r) => r.kind),
          rows.map((r) => r.safeTxHash?.toLowerCase() ?? null),
          rows.map((r) => r.at),
        ],
      );
    }),
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
