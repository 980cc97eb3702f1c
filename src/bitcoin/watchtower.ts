import { blockMerkleRootMatches } from '../core/chains/bitcoin/block/merkle.ts';
import { parseBlock } from '../core/chains/bitcoin/block/parse.ts';
import {
  scanBlock,
  type UnmatchedOutflowAlert,
  unmatchedOutflows,
  type WatchEntry,
  WatchIndex,
} from '../core/chains/bitcoin/block/watch.ts';
import { canonicalJson } from '../core/encoding/canonical-json.ts';
import { CustosError } from '../core/errors/base.ts';
import type { Db, Queryable } from '../store/db.ts';
import type { BitcoinChainSource } from './source.ts';

/**
 * Follows a Bitcoin chain block by block and raises a critical UNMATCHED_OUTFLOW alert for every
 * transaction that spends a custody coin (or pays from a custody multisig script) and is not a
 * transaction Custos signed (invariant I7, threat T9: a leaked key used outside Custos is seen
 * within one block). The cursor, the custody UTXO set and the raised alerts live in the database
 * (PostgreSQL or PGlite); each block is applied in one transaction, alerts are delivered inside it
 * (a failed delivery rolls the block back and it is retried: at-least-once, never lost). Reorgs are
 * detected by parent hash and undone down to the fork, bounded by `maxReorgDepth` (fail closed).
 */
export interface WatchtowerOptions {
  db: Db;
  source: Pick<BitcoinChainSource, 'tipHeight' | 'blockHash' | 'rawBlock'>;
  /** CAIP-2 chain id, e.g. bip122:000000000019d6689c085ae165831e93. */
  chain: string;
  /** Custody scripts (every wallet address up to its gap limit) and multisig witness scripts. */
  watch: Iterable<WatchEntry>;
  /**
   * Called inside the block's database transaction; `tx` is that transaction, so a consumer can
   * persist the alert atomically with the cursor (PGlite has one connection: opening a second
   * transaction from here would wait forever).
   */
  onAlert: (alert: UnmatchedOutflowAlert, tx: Queryable) => Promise<void> | void;
  /** First height to scan when the database has no cursor yet. */
  startHeight: number;
  maxReorgDepth?: number;
  /** Blocks processed per `poll()` at most (keeps one poll bounded). */
  maxBlocksPerPoll?: number;
}

export interface PollResult {
  processed: number;
  rolledBack: number;
  alerts: number;
  height: number;
}

interface Tip {
  height: number;
  hash: string;
}

export async function recordSignedTx(
  db: Queryable,
  chain: string,
  txid: string,
  intentId: string,
): Promise<void> {
  await db.query(
    'INSERT INTO bitcoin_signed_txs (chain, txid, intent_id) VALUES ($1, $2, $3) ON CONFLICT (chain, txid) DO NOTHING',
    [chain, txid, intentId],
  );
}

export class BitcoinWatchtower {
  private readonly entries: WatchEntry[];
  private index: WatchIndex | undefined;

  constructor(private readonly o: WatchtowerOptions) {
    this.entries = [...o.watch];
  }

  private async loadIndex(q: Queryable): Promise<WatchIndex> {
    const { rows } = await q.query<{ txid: string; vout: number; wallet: string; value_sat: string }>(
      'SELECT txid, vout, wallet, value_sat::text AS value_sat FROM bitcoin_watch_utxos WHERE chain = $1 AND spent_height IS NULL',
      [this.o.chain],
    );
    return new WatchIndex(
      this.entries,
      rows.map((r) => ({ txid: r.txid, vout: Number(r.vout), wallet: r.wallet, value: Number(r.value_sat) })),
    );
  }

  /**
   * Extends the watch set (new addresses handed out past the previous gap limit). Takes effect
   * from the next block; addresses must be added before they are given out to be watched from
   * their first payment.
   */
  addWatch(entries: Iterable<WatchEntry>): void {
    for (const e of entries) {
      this.entries.push(e);
      this.index?.addScript(e);
    }
  }

  async cursor(): Promise<Tip | undefined> {
    const { rows } = await this.o.db.query<{ height: string; hash: string }>(
      'SELECT height::text AS height, hash FROM bitcoin_watch_blocks WHERE chain = $1 ORDER BY height DESC LIMIT 1',
      [this.o.chain],
    );
    return rows[0] && { height: Number(rows[0].height), hash: rows[0].hash };
  }

  /** Scans every block up to the node's tip (bounded by maxBlocksPerPoll). */
  async poll(): Promise<PollResult> {
    const res: PollResult = { processed: 0, rolledBack: 0, alerts: 0, height: -1 };
    this.index ??= await this.loadIndex(this.o.db);
    let tip: Tip | undefined = await this.cursor();
    if (!tip) {
      // Anchor: the block before startHeight, so the first scanned block's parent can be checked.
      const h = this.o.startHeight - 1;
      const hash = await this.o.source.blockHash(h);
      await this.o.db.query(
        'INSERT INTO bitcoin_watch_blocks (chain, height, hash, prev_hash) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [this.o.chain, h, hash, ''],
      );
      tip = { height: h, hash };
    }
    const nodeTip = await this.o.source.tipHeight();
    const max = this.o.maxBlocksPerPoll ?? 1000;
    while (tip.height < nodeTip && res.processed < max) {
      const height: number = tip.height + 1;
      const hash = await this.o.source.blockHash(height);
      const raw = await this.o.source.rawBlock(hash);
      const blk = parseBlock(raw);
      // Fail closed: the node must hand us the block it named.
      if (blk.header.hash !== hash)
        throw new CustosError('BLOCK_HASH_MISMATCH', 'node returned a block with another hash', {
          details: { height, expected: hash, got: blk.header.hash },
        });
      if (!blockMerkleRootMatches(blk))
        throw new CustosError('BLOCK_MERKLE_MISMATCH', 'block transactions do not match its header', {
          details: { height, hash },
        });
      if (blk.header.prevHash !== tip.hash) {
        // Reorg: the node's block at this height does not build on our tip. Undo our tip and
        // try again one lower, until the parent matches (the fork point).
        if (++res.rolledBack > (this.o.maxReorgDepth ?? 100))
          throw new CustosError('REORG_TOO_DEEP', 'reorg deeper than maxReorgDepth: refusing to follow', {
            details: { height },
          });
        tip = await this.rollback(tip);
        continue;
      }
      res.alerts += await this.apply(height, blk);
      tip = { height, hash };
      res.processed++;
    }
    res.height = tip.height;
    return res;
  }

  private async apply(height: number, blk: ReturnType<typeof parseBlock>): Promise<number> {
    const chain = this.o.chain;
    const hash = blk.header.hash;
    let raised = 0;
    try {
      await this.o.db.transaction(async (tx) => {
        const scan = scanBlock(blk, this.index!);
        for (const c of scan.created)
          await tx.query(
            `INSERT INTO bitcoin_watch_utxos (chain, txid, vout, wallet, value_sat, created_height)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, txid, vout) DO NOTHING`,
            [chain, c.txid, c.vout, c.wallet, String(c.value), height],
          );
        for (const f of scan.outflows)
          for (const s of f.spent)
            await tx.query(
              `UPDATE bitcoin_watch_utxos SET spent_height = $1, spent_txid = $2
               WHERE chain = $3 AND txid = $4 AND vout = $5 AND spent_height IS NULL`,
              [height, f.txid, chain, s.txid, s.vout],
            );
        const txids = scan.outflows.map((f) => f.txid);
        const signed = new Set<string>();
        if (txids.length) {
          const { rows } = await tx.query<{ txid: string }>(
            'SELECT txid FROM bitcoin_signed_txs WHERE chain = $1 AND txid = ANY($2::text[])',
            [chain, txids],
          );
          for (const r of rows) signed.add(r.txid);
        }
        const alerts = unmatchedOutflows(scan, (id) => signed.has(id), chain, { height, hash });
        for (const a of alerts) {
          const { rowCount } = await tx.query(
            `INSERT INTO bitcoin_watch_alerts (chain, txid, wallet, height, hash, body)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
            [chain, a.txid, a.wallet, height, hash, canonicalJson(a)],
          );
          if (rowCount > 0) {
            await this.o.onAlert(a, tx);
            raised++;
          }
        }
        await tx.query(
          'INSERT INTO bitcoin_watch_blocks (chain, height, hash, prev_hash) VALUES ($1, $2, $3, $4)',
          [chain, height, hash, blk.header.prevHash],
        );
      });
    } catch (e) {
      // The in-memory index was advanced by the scan: rebuild it from the committed state.
      this.index = await this.loadIndex(this.o.db);
      throw e;
    }
    return raised;
  }

  /** Undoes the top block (its UTXO changes and its row) and returns the new tip. */
  private async rollback(tip: Tip): Promise<Tip> {
    const chain = this.o.chain;
    await this.o.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ n: string }>(
        'SELECT count(*)::text AS n FROM bitcoin_watch_blocks WHERE chain = $1 AND height < $2',
        [chain, tip.height],
      );
      if (Number(rows[0]!.n) === 0)
        throw new CustosError('REORG_BELOW_ANCHOR', 'reorg reaches below the first scanned block', {
          details: { height: tip.height },
        });
      await tx.query('DELETE FROM bitcoin_watch_utxos WHERE chain = $1 AND created_height >= $2', [
        chain,
        tip.height,
      ]);
      await tx.query(
        'UPDATE bitcoin_watch_utxos SET spent_height = NULL, spent_txid = NULL WHERE chain = $1 AND spent_height >= $2',
        [chain, tip.height],
      );
      await tx.query('DELETE FROM bitcoin_watch_blocks WHERE chain = $1 AND height >= $2', [
        chain,
        tip.height,
      ]);
    });
    this.index = await this.loadIndex(this.o.db);
    return (await this.cursor())!;
  }
}
