import type { Hex } from '../core/chains/evm/types.ts';
import type { Queryable } from '../store/db.ts';

export interface ScannedBlock {
  number: bigint;
  hash: Hex;
  parentHash: Hex;
}

/**
 * Persisted watchtower cursor: the recent scanned blocks of one chain (ascending). Kept deep
 * enough to find the common ancestor of any reorg the node can report.
 */
export interface WatchCursorStore {
  recent(chain: string): Promise<ScannedBlock[]>;
  /** records a scanned block and forgets blocks older than `keep` below it */
  record(chain: string, block: ScannedBlock, keep: number): Promise<void>;
  /** forgets every block at or above `number` (reorged away) */
  rewind(chain: string, number: bigint): Promise<void>;
}

export function memoryCursorStore(): WatchCursorStore {
  const m = new Map<string, ScannedBlock[]>();
  return {
    async recent(chain) {
      return [...(m.get(chain) ?? [])];
    },
    async record(chain, block, keep) {
      const list = (m.get(chain) ?? []).filter((b) => b.number !== block.number);
      list.push(block);
      list.sort((a, b) => (a.number < b.number ? -1 : 1));
      m.set(
        chain,
        list.filter((b) => b.number > block.number - BigInt(keep)),
      );
    },
    async rewind(chain, number) {
      m.set(
        chain,
        (m.get(chain) ?? []).filter((b) => b.number < number),
      );
    },
  };
}

/** PostgreSQL/PGlite cursor (migration 0300_evm_watch.sql). */
export function dbCursorStore(db: Queryable): WatchCursorStore {
  return {
    async recent(chain) {
      const r = await db.query<{ number: string; hash: string; parent_hash: string }>(
        'SELECT number::text AS number, hash, parent_hash FROM evm_watch_blocks WHERE chain = $1 ORDER BY evm_watch_blocks.number ASC',
        [chain],
      );
      return r.rows.map((x) => ({
        number: BigInt(x.number),
        hash: x.hash as Hex,
        parentHash: x.parent_hash as Hex,
      }));
    },
    async record(chain, block, keep) {
      await db.query(
        `INSERT INTO evm_watch_blocks (chain, number, hash, parent_hash) VALUES ($1, $2::bigint, $3, $4)
         ON CONFLICT (chain, number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash`,
        [chain, block.number.toString(), block.hash, block.parentHash],
      );
      await db.query('DELETE FROM evm_watch_blocks WHERE chain = $1 AND number <= $2::bigint', [
        chain,
        (block.number - BigInt(keep)).toString(),
      ]);
    },
    async rewind(chain, number) {
      await db.query('DELETE FROM evm_watch_blocks WHERE chain = $1 AND number >= $2::bigint', [
        chain,
        number.toString(),
      ]);
    },
  };
}
