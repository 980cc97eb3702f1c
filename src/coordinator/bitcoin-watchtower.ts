import type { BitcoinChainSource } from '../bitcoin/source.ts';
import { BitcoinWatchtower } from '../bitcoin/watchtower.ts';
import type { UnmatchedOutflowAlert } from '../core/chains/bitcoin/block/watch.ts';
import { type BitcoinWallet, parseBitcoinWalletRecord } from '../core/chains/bitcoin/wallet.ts';
import { watchEntries } from '../core/chains/bitcoin/watch-entries.ts';
import type { WalletRecord } from '../core/governance/types.ts';
import type { Queryable } from '../store/db.ts';
import { recordWatchtowerAlertInTx, type WatchtowerDeps } from './watchtower.ts';

export interface WatchedBitcoinChain {
  chain: string;
  source: Pick<BitcoinChainSource, 'tipHeight' | 'blockHash' | 'rawBlock'>;
  pollMs: number;
  /** Address indexes watched per branch (the same range the adapter spends from). */
  scanUpTo: number;
  /** First height scanned when the database has no cursor yet; default: the tip at first poll. */
  startHeight?: number;
}

/** Bitcoin wallet records of one chain that parse; others cannot hold funds through Custos. */
function bitcoinWallets(records: readonly WalletRecord[], chain: string): [string, BitcoinWallet, string][] {
  const out: [string, BitcoinWallet, string][] = [];
  for (const r of records) {
    if (r.chain !== chain || r.type !== 'bitcoin-descriptor') continue;
    try {
      out.push([r.id, parseBitcoinWalletRecord(r), JSON.stringify(r.config)]);
    } catch {
      // unparseable: the co-signers refuse it too
    }
  }
  return out;
}

/**
 * Persists one Bitcoin UNMATCHED_OUTFLOW alert — alert row, webhook event, audit entry — in the
 * watchtower's own block transaction `tx`: the alert and the cursor commit together, so an alert
 * is never lost (a failure rolls the block back and it is re-scanned) nor announced twice.
 * Same rows and shapes as the EVM path (persistEvmAlert).
 */
export async function persistBitcoinAlert(
  d: WatchtowerDeps,
  tx: Queryable,
  a: UnmatchedOutflowAlert,
): Promise<string> {
  const now = (d.clock ?? (() => new Date()))();
  const details = {
    chain: a.chain,
    wallet: a.wallet,
    txHash: a.txid,
    block: { number: String(a.block.height), hash: a.block.hash },
    ...a.details,
  };
  return recordWatchtowerAlertInTx(
    d,
    tx,
    {
      severity: a.severity,
      code: a.code,
      wallet: a.wallet,
      message: `outflow that Custos did not sign on ${a.chain} (wallet ${a.wallet}, block ${a.block.height})`,
      details,
    },
    now,
  );
}

/**
 * One Bitcoin watchtower per configured chain inside the coordinator (I7). The watched scripts
 * follow the trust bundle: wallets that appear in a new bundle are added on the next poll.
 * `tick()` is exposed for tests; `stop()` ends the loop.
 */
export function bitcoinWatchtower(d: WatchtowerDeps, c: WatchedBitcoinChain) {
  let wt: BitcoinWatchtower | undefined;
  const watched = new Set<string>();
  const fresh = () => {
    const out = [];
    for (const [id, w, config] of bitcoinWallets(d.wallets(), c.chain)) {
      const key = `${id}\u0000${config}`;
      if (watched.has(key)) continue;
      watched.add(key);
      out.push(...watchEntries(id, w, c.scanUpTo));
    }
    return out;
  };
  return {
    async tick() {
      if (!wt) {
        const startHeight = c.startHeight ?? (await c.source.tipHeight());
        wt = new BitcoinWatchtower({
          db: d.db,
          source: c.source,
          chain: c.chain,
          watch: fresh(),
          startHeight,
          onAlert: async (a, tx) => {
            await persistBitcoinAlert(d, tx, a);
            d.metrics.watchtowerAlert(a.chain, a.code);
          },
        });
      } else {
        const add = fresh();
        if (add.length) wt.addWatch(add);
      }
      const r = await wt.poll();
      if (r.processed > 0 || r.rolledBack > 0) d.onNewBlocks?.(c.chain);
      d.metrics.watchtowerBlock.set({ chain: c.chain }, r.height);
      d.metrics.watchtowerLag.set({ chain: c.chain }, Math.max(0, (await c.source.tipHeight()) - r.height));
      return r;
    },
  };
}

export function startBitcoinWatchtowers(d: WatchtowerDeps, chains: readonly WatchedBitcoinChain[]) {
  const running = chains.map((c) => {
    const t = bitcoinWatchtower(d, c);
    let timer: NodeJS.Timeout | undefined;
    let current: Promise<unknown> = Promise.resolve();
    let stopped = false;
    const loop = () => {
      current = t
        .tick()
        .catch((e) => d.onError?.(c.chain, e))
        .finally(() => {
          if (!stopped) timer = setTimeout(loop, c.pollMs);
        });
    };
    loop();
    return {
      async stop() {
        stopped = true;
        if (timer) clearTimeout(timer);
        await current;
      },
    };
  });
  return {
    async stop(): Promise<void> {
      await Promise.all(running.map((r) => r.stop()));
    },
  };
}
