import type { Chain, PublicClient, Transport } from 'viem';
import type { Address, Hex } from '../core/chains/evm/types.ts';
import type { EvmWallet } from '../core/chains/evm/wallet-config.ts';
import {
  buildCustodyIndex,
  type CustodyIndex,
  type EvmAlert,
  type MatchLookup,
  matchBlock,
  matchCandidates,
  touchedSafes,
  type WatchBlock,
} from '../core/chains/evm/watch.ts';
import { readSafeSingleton } from './chain-state.ts';
import type { WatchCursorStore } from './watch-cursor.ts';

type Client = PublicClient<Transport, Chain>;

export interface WatchtowerOptions {
  chain: string;
  client: Client;
  wallets: readonly EvmWallet[];
  store: WatchCursorStore;
  /** what Custos signed; a store-backed lookup may add `prepare` (see evmKnownStore) */
  lookup: MatchLookup;
  /** delivered before the cursor advances (at-least-once): audit log, webhooks, metrics */
  onAlert: (alert: EvmAlert) => void | Promise<void>;
  /** blocks behind head to wait before scanning (0 = scan the head as soon as it appears) */
  confirmations?: number;
  /** first block to scan when no cursor is stored (default: the current head) */
  startBlock?: bigint;
  /** how many scanned blocks to remember for reorg detection */
  keep?: number;
  /**
   * Every N blocks, read slot 0 of EVERY registered Safe, not only the ones the block touched
   * (defence in depth against a write path that emits no log; 0 = off).
   */
  sweepEvery?: number;
}

export interface PollResult {
  scanned: bigint[];
  /** Set when stored blocks were replaced: the first number re-scanned. */
  reorgedFrom?: bigint;
  /** The chain's head when the poll started. */
  head: bigint;
  /** The highest scanned block after the poll (undefined before the first). */
  tip: bigint | undefined;
}

/**
 * Follows an EVM chain block by block and runs the pure matcher on each. Reorgs: before scanning
 * block n the stored hash of n-1 must equal n's parentHash; otherwise the stored suffix is
 * compared with the chain, rewound to the common ancestor, and the replaced blocks are re-scanned
 * (a block hash that changes is re-scanned; alerts carry the block hash they were raised for).
 */
export class EvmWatchtower {
  private index: CustodyIndex;
  private readonly o: Required<Omit<WatchtowerOptions, 'startBlock'>> & { startBlock?: bigint };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  /** The head a poll finished on with the cursor at its target (nothing left to scan then). */
  private settled: { head: bigint; hash: Hex; tip: bigint } | undefined;

  constructor(opts: WatchtowerOptions) {
    this.o = { confirmations: 0, keep: 128, sweepEvery: 0, ...opts };
    this.index = buildCustodyIndex(opts.chain, opts.wallets);
  }

  setWallets(wallets: readonly EvmWallet[]): void {
    this.index = buildCustodyIndex(this.o.chain, wallets);
  }

  /**
   * Scans every block up to head − confirmations; returns the numbers scanned and rewound, the
   * head it saw and the highest block scanned (the cursor's tip) after the poll.
   */
  async poll(): Promise<PollResult> {
    const { client, store, chain, confirmations } = this.o;
    // The head's number and hash in one call. The head's hash commits to the whole chain: when it
    // is the head the previous poll finished on (with the cursor at its target then), no block
    // was added or replaced since, so there is nothing to read or scan — most polls, since a
    // watchtower polls several times per block (no cursor read, one node call).
    const latest = await client.getBlock({ blockTag: 'latest' });
    const head = latest.number;
    const idle = this.settled;
    if (idle && idle.head === head && idle.hash === latest.hash) return { scanned: [], head, tip: idle.tip };
    this.settled = undefined;
    const target = head - BigInt(confirmations);
    let recent = await store.recent(chain);
    let reorgedFrom: bigint | undefined;
    const scanned: bigint[] = [];
    // The stored tip itself may have been replaced (a reorg that does not lengthen the chain).
    const tip = recent[recent.length - 1];
    if (tip && tip.number <= target) {
      const onChain = await client.getBlock({ blockNumber: tip.number });
      if (onChain.hash !== tip.hash) {
        reorgedFrom = (await this.commonAncestor(recent)) + 1n;
        await store.rewind(chain, reorgedFrom);
        recent = await store.recent(chain);
      }
    }
    let next =
      recent.length > 0
        ? recent[recent.length - 1]!.number + 1n
        : (reorgedFrom ?? this.o.startBlock ?? target);
    while (next <= target) {
      const block = await this.fetch(next);
      const prev = recent[recent.length - 1];
      if (prev && prev.number === next - 1n && prev.hash !== block.parentHash) {
        const ancestor = await this.commonAncestor(recent);
        reorgedFrom = ancestor + 1n;
        await store.rewind(chain, reorgedFrom);
        recent = await store.recent(chain);
        next = reorgedFrom;
        continue;
      }
      await this.scan(block);
      await store.record(
        chain,
        { number: block.number, hash: block.hash, parentHash: block.parentHash },
        this.o.keep,
      );
      recent.push({ number: block.number, hash: block.hash, parentHash: block.parentHash });
      scanned.push(block.number);
      next++;
    }
    const last = recent[recent.length - 1]?.number;
    if (last === target) this.settled = { head, hash: latest.hash, tip: last };
    return reorgedFrom === undefined
      ? { scanned, head, tip: last }
      : { scanned, reorgedFrom, head, tip: last };
  }

  /** Highest stored block whose hash the chain still has (or one below the oldest stored). */
  private async commonAncestor(recent: { number: bigint; hash: Hex }[]): Promise<bigint> {
    for (let i = recent.length - 1; i >= 0; i--) {
      const b = recent[i]!;
      const onChain = await this.o.client.getBlock({ blockNumber: b.number });
      if (onChain.hash === b.hash) return b.number;
    }
    return (recent[0]?.number ?? 1n) - 1n;
  }

  private async fetch(number: bigint): Promise<WatchBlock> {
    const { client } = this.o;
    const b = await client.getBlock({ blockNumber: number, includeTransactions: true });
    const logs = await client.getLogs({ blockHash: b.hash });
    return {
      number: b.number,
      hash: b.hash,
      parentHash: b.parentHash,
      transactions: b.transactions.map((t) => ({
        hash: t.hash,
        from: t.from,
        to: t.to ?? null,
        value: t.value,
        nonce: BigInt(t.nonce),
      })),
      logs: logs.map((l) => ({
        address: l.address,
        topics: l.topics as Hex[],
        data: l.data,
        transactionHash: l.transactionHash,
        logIndex: l.logIndex,
      })),
    };
  }

  /** Matches one block and delivers its alerts. */
  async scan(block: WatchBlock): Promise<EvmAlert[]> {
    const singletons = new Map<string, Address>();
    const sweep = this.o.sweepEvery > 0 && block.number % BigInt(this.o.sweepEvery) === 0n;
    const safes = sweep
      ? [...this.index.safes.values()].map((w) => w.config.address)
      : touchedSafes(block, this.index);
    // bounded concurrency: a full sweep may cover thousands of Safes
    for (let i = 0; i < safes.length; i += 32) {
      await Promise.all(
        safes.slice(i, i + 32).map(async (safe) => {
          singletons.set(safe.toLowerCase(), await readSafeSingleton(this.o.client, safe, block.number));
        }),
      );
    }
    const lookup = this.o.lookup as MatchLookup & {
      prepare?: (c: ReturnType<typeof matchCandidates>) => Promise<void>;
    };
    if (lookup.prepare) await lookup.prepare(matchCandidates(block, this.index));
    const alerts = matchBlock(block, this.index, lookup, singletons);
    for (const a of alerts) await this.o.onAlert(a);
    return alerts;
  }

  /** Polls every `intervalMs` until stop(); errors are passed to `onError` and retried next tick. */
  start(intervalMs: number, onError: (e: unknown) => void = () => {}): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.poll()
        .catch(onError)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running;
  }
}
