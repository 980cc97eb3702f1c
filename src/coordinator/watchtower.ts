import type { Chain, PublicClient, Transport } from 'viem';
import { type EvmAlert, type EvmWallet, parseEvmWallet } from '../core/chains/evm/index.ts';
import type { WalletRecord } from '../core/governance/types.ts';
import { evmKnownStore } from '../evm/known-store.ts';
import { dbCursorStore } from '../evm/watch-cursor.ts';
import { EvmWatchtower } from '../evm/watchtower.ts';
import type { Db, Queryable } from '../store/db.ts';
import type { Alert, AlertStore } from '../store/workflow/alerts.ts';
import type { AuditAppender } from '../store/workflow/audit-port.ts';
import type { WebhookOutbox } from '../webhooks/outbox.ts';
import type { CoordinatorMetrics } from './metrics.ts';

type Client = PublicClient<Transport, Chain>;

export interface WatchedChain {
  chain: string;
  client: Client;
  pollMs: number;
  confirmations: number;
  sweepEvery: number;
}

export interface WatchtowerDeps {
  db: Db;
  audit: AuditAppender;
  alerts: AlertStore;
  metrics: CoordinatorMetrics;
  /** Wallet records of the trust bundle in force (re-read on every poll: a new bundle applies). */
  wallets: () => readonly WalletRecord[];
  webhooks?: WebhookOutbox;
  clock?: () => Date;
  onError?: (chain: string, e: unknown) => void;
  /**
   * Called after a poll that scanned new blocks of `chain` (EVM or Bitcoin): the workflow's
   * confirmation checks of that chain can only change then, so they are woken by it instead of
   * re-reading receipts on a timer.
   */
  onNewBlocks?: (chain: string) => void;
}

/** Wallet records of one EVM chain that parse as custody wallets; others are not watchable. */
/** Parsed per wallet list (the trust view hands out the same array until a new bundle). */
const parsedWallets = new WeakMap<readonly WalletRecord[], Map<string, EvmWallet[]>>();

function evmWallets(records: readonly WalletRecord[], chain: string): EvmWallet[] {
  const byChain = parsedWallets.get(records) ?? new Map<string, EvmWallet[]>();
  parsedWallets.set(records, byChain);
  const cached = byChain.get(chain);
  if (cached) return cached;
  const out = parseEvmWallets(records, chain);
  byChain.set(chain, out);
  return out;
}

function parseEvmWallets(records: readonly WalletRecord[], chain: string): EvmWallet[] {
  const out: EvmWallet[] = [];
  for (const r of records) {
    if (r.chain !== chain) continue;
    try {
      out.push(parseEvmWallet(r));
    } catch {
      // An unparseable record cannot hold funds through Custos either (the co-signers refuse it).
    }
  }
  return out;
}

/**
 * The rows of one watchtower alert, EVM or Bitcoin, written with the caller's transaction `tx`:
 * the alert row, then its `alert.raised` webhook event and its audit entry.
 */
export async function recordWatchtowerAlertInTx(
  d: WatchtowerDeps,
  tx: Queryable,
  a: {
    severity: Alert['severity'];
    code: string;
    wallet: string;
    message: string;
    details: Record<string, unknown>;
  },
  now: Date,
): Promise<string> {
  const id = await d.alerts.raise(
    {
      severity: a.severity,
      code: a.code,
      subject: `wallet:${a.wallet}`,
      message: a.message,
      details: a.details,
    },
    now,
    tx,
  );
  await d.webhooks?.enqueue(
    tx,
    'alert.raised',
    { id, severity: a.severity, code: a.code, details: a.details },
    now.toISOString(),
    `alert-${id}`,
  );
  await d.audit.appendInTx(tx, [
    {
      kind: 'watchtower.alert',
      actor: 'watchtower',
      subject: `wallet:${a.wallet}`,
      body: { alert: id, code: a.code, ...a.details },
    },
  ]);
  return id;
}

/**
 * Persists one watchtower alert: the alert row, its audit entry and the webhook event in ONE
 * transaction, so an alert is never announced without being recorded (or the reverse). The
 * watchtower calls this before advancing its cursor: a crash re-delivers (at least once).
 */
export async function persistEvmAlert(d: WatchtowerDeps, a: EvmAlert): Promise<string> {
  const now = (d.clock ?? (() => new Date()))();
  const details = {
    chain: a.chain,
    wallet: a.wallet,
    txHash: a.txHash,
    block: { number: a.block.number.toString(), hash: a.block.hash },
    ...jsonSafe(a.details),
  };
  const what =
    a.code === 'UNMATCHED_OUTFLOW'
      ? 'outflow that Custos did not sign'
      : 'Safe configuration changed outside Custos';
  const id = await d.db.transaction((tx) =>
    recordWatchtowerAlertInTx(
      d,
      tx,
      {
        severity: a.severity,
        code: a.code,
        wallet: a.wallet,
        message: `${what} on ${a.chain} (wallet ${a.wallet}, block ${a.block.number})`,
        details,
      },
      now,
    ),
  );
  d.metrics.watchtowerAlert(a.chain, a.code);
  return id;
}

/**
 * Runs one EvmWatchtower per configured EVM chain inside the coordinator (invariant I7): cursor in
 * the database (evm_watch_blocks), lookup over what the coordinator recorded as signed/sent
 * (evmKnownStore), alerts persisted by persistEvmAlert, lag exported as
 * custos_watchtower_lag_blocks{chain}.
 */
export function startWatchtowers(d: WatchtowerDeps, chains: readonly WatchedChain[]) {
  const store = dbCursorStore(d.db);
  const running = chains.map((c) => {
    const known = evmKnownStore(d.db, c.chain);
    let wallets = evmWallets(d.wallets(), c.chain);
    const wt = new EvmWatchtower({
      chain: c.chain,
      client: c.client,
      wallets,
      store,
      lookup: known.lookup(),
      onAlert: (a) => persistEvmAlert(d, a).then(() => undefined),
      confirmations: c.confirmations,
      sweepEvery: c.sweepEvery,
    });
    let timer: NodeJS.Timeout | undefined;
    let current: Promise<unknown> = Promise.resolve();
    let stopped = false;
    const tick = async () => {
      // Rebuild the custody index only when the bundle's wallets changed, not every block.
      const now = evmWallets(d.wallets(), c.chain);
      if (now !== wallets) {
        wallets = now;
        wt.setWallets(now);
      }
      const { scanned, reorgedFrom, head, tip } = await wt.poll();
      if (scanned.length > 0 || reorgedFrom !== undefined) d.onNewBlocks?.(c.chain);
      d.metrics.watchtowerLag.set({ chain: c.chain }, tip === undefined ? 0 : Number(head - tip));
      if (tip !== undefined) d.metrics.watchtowerBlock.set({ chain: c.chain }, Number(tip));
    };
    const loop = () => {
      current = tick()
        .catch((e) => d.onError?.(c.chain, e))
        .finally(() => {
          if (!stopped) timer = setTimeout(loop, c.pollMs);
        });
    };
    loop();
    return {
      chain: c.chain,
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

/** bigint → decimal string, recursively (alert details are JSON). */
function jsonSafe(v: Record<string, unknown>): Record<string, unknown> {
  const f = (x: unknown): unknown =>
    typeof x === 'bigint'
      ? x.toString()
      : Array.isArray(x)
        ? x.map(f)
        : x && typeof x === 'object'
          ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, f(y)]))
          : x;
  return f(v) as Record<string, unknown>;
}
