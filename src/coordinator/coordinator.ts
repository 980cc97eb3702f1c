import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { EvmAlert } from '../core/chains/evm/index.ts';
import type { Db } from '../store/db.ts';
import { AlertStore } from '../store/workflow/alerts.ts';
import { ApprovalStore } from '../store/workflow/approvals.ts';
import type { AuditAppender } from '../store/workflow/audit-port.ts';
import { IdempotencyStore } from '../store/workflow/idempotency.ts';
import { IntentStore } from '../store/workflow/intents.ts';
import { Outbox } from '../store/workflow/outbox.ts';
import { JobQueue, type RetryPolicy } from '../store/workflow/queue.ts';
import type { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { startBitcoinWatchtowers, type WatchedBitcoinChain } from './bitcoin-watchtower.ts';
import type { CosignerPort } from './cosigner-client.ts';
import { type AppOptions, buildApp } from './http/app.ts';
import type { AuditReader } from './http/routes/audit.ts';
import type { DirectoryPort, GovernancePort } from './http/routes/directory.ts';
import { CoordinatorMetrics } from './metrics.ts';
import { Sampled } from './sampled.ts';
import { IntentService } from './service.ts';
import { persistEvmAlert, startWatchtowers, type WatchedChain, type WatchtowerDeps } from './watchtower.ts';
import { type EngineDeps, JOB, WorkflowEngine } from './workflow/engine.ts';
import type {
  ApprovalsPort,
  ChainPort,
  CounterStore,
  PolicyPort,
  SignatureVerifier,
  WalletRoute,
} from './workflow/ports.ts';
import { Worker } from './workflow/worker.ts';

export interface CoordinatorOptions {
  db: Db;
  audit: AuditAppender;
  auditReader?: AuditReader;
  verifier?: SignatureVerifier;
  approvals?: ApprovalsPort;
  /** WebAuthn signature counters (a PrincipalStore holding the credentials); see IntentService. */
  counters?: CounterStore;
  policy?: PolicyPort;
  /** Wallet routes; a function when they follow the trust bundle. */
  wallets: WalletRoute[] | (() => WalletRoute[]);
  /** One wallet's route by id (an index); defaults to a scan of `wallets`. */
  walletRoute?: (id: string) => WalletRoute | undefined;
  cosigners: CosignerPort[];
  chains?: ReadonlyMap<string, ChainPort>;
  directory?: DirectoryPort;
  governance?: GovernancePort;
  trustChain?: () => unknown[];
  clock?: () => Date;
  logger?: Logger;
  http?: AppOptions;
  worker?: {
    enabled?: boolean;
    pollMs?: number;
    batch?: number;
    visibilityMs?: number;
    lingerMs?: number;
    lingerMaxMs?: number;
    id?: string;
  };
  retry?: RetryPolicy;
  fault?: EngineDeps['fault'];
  /** I7: one EVM watchtower per chain over the bundle's wallets (see src/coordinator/watchtower.ts). */
  watch?: {
    chains: WatchedChain[];
    /** I7 on Bitcoin: one BitcoinWatchtower per chain (src/coordinator/bitcoin-watchtower.ts). */
    bitcoin?: WatchedBitcoinChain[];
    wallets: WatchtowerDeps['wallets'];
    webhooks?: WatchtowerDeps['webhooks'];
  };
  /** Runs this dispatcher's polling loop while the coordinator runs; stopped by close(). */
  webhookDispatcher?: { dispatcher: WebhookDispatcher; pollMs: number };
  /** Poll intervals of waiting steps (tests shorten them). */
  polling?: { confirmPollMs?: number; walletBusyPollMs?: number };
  /**
   * PostgreSQL channel on which API-only processes announce new work and workflow processes
   * listen (LISTEN/NOTIFY), so a process split into an API tier and a workflow tier reacts at once
   * instead of at its next poll. Ignored on PGlite (one process).
   */
  wakeChannel?: string;
}

export interface Coordinator {
  app: FastifyInstance;
  worker: Worker;
  engine: WorkflowEngine;
  service: IntentService;
  metrics: CoordinatorMetrics;
  intents: IntentStore;
  outbox: Outbox;
  alerts: AlertStore;
  queue: JobQueue;
  /** The watchtowers' alert handler (alert row, audit entry, webhook event in one transaction). */
  raiseEvmAlert(a: EvmAlert): Promise<string>;
  close(): Promise<void>;
}

/**
 * Least time between two work announcements of an API-only process (at most 50 NOTIFYs a second,
 * however many submits). The first intent after a quiet spell is announced at once; a later one
 * of a burst waits at most this long more (workflow lanes linger 10 ms after a wake anyway).
 */
const WAKE_GAP_MS = 20;
/**
 * The work announcement. A NOTIFY gives its transaction an XID and a commit record, and with
 * `synchronous_commit` on that commit waited for a WAL flush of its own: about half a flush per
 * submit at 100/s, queued with every other commit's. A wake-up hint needs no durability (workers
 * poll anyway, and a lost notification is only a later claim), so its one-statement transaction
 * commits without waiting for the flush (`set_config(..., true)`: this transaction only). It is
 * always sent on its own, never inside another transaction, whose commit it would make
 * asynchronous too.
 */
export const WAKE_SQL = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)";

/** How long one readiness answer from the co-signers is reused by `/readyz`. */
const READINESS_TTL_MS = 1000;

/** Wires stores, workflow, API and worker for one coordinator process (the composition root). */
export async function createCoordinator(o: CoordinatorOptions): Promise<Coordinator> {
  const clock = o.clock ?? (() => new Date());
  const intents = new IntentStore(o.db, o.audit);
  const queue = new JobQueue(o.db, o.retry);
  const outbox = new Outbox(o.db);
  const approvals = new ApprovalStore(o.db);
  const alerts = new AlertStore(o.db);
  const idempotency = new IdempotencyStore(o.db);
  const routes = typeof o.wallets === 'function' ? o.wallets : () => o.wallets as WalletRoute[];
  const wallets = { get: o.walletRoute ?? ((id: string) => routes().find((w) => w.id === id)) };
  const cosigners = new Map(o.cosigners.map((c) => [c.id, c]));
  const chains = o.chains ?? new Map<string, ChainPort>();
  const metrics = new CoordinatorMetrics(
    () => intents.countByState(),
    () => queue.stats(),
  );
  const engine = new WorkflowEngine({
    db: o.db,
    intents,
    audit: o.audit,
    outbox,
    approvals,
    alerts,
    wallets,
    cosigners,
    chains,
    ...(o.policy ? { policy: o.policy } : {}),
    clock,
    metrics,
    ...(o.fault ? { fault: o.fault } : {}),
    ...(o.polling ?? {}),
  });
  const workerOn = o.worker?.enabled !== false;
  // An API-only process hands new work to the workflow processes with NOTIFY: at once after a
  // quiet spell, then at most one per WAKE_GAP_MS (was one per event-loop turn: under load about
  // one extra statement per submit, and one wake-up of every workflow process for each).
  const wake = o.wakeChannel && o.db.listen ? o.wakeChannel : undefined;
  let wakeTimer: ReturnType<typeof setTimeout> | undefined;
  const announce = wake
    ? (() => {
        let last = Number.NEGATIVE_INFINITY;
        const notify = () => {
          wakeTimer = undefined;
          last = performance.now();
          o.db
            .query(WAKE_SQL, [wake, ''])
            .catch((e) => o.logger?.warn({ err: e }, 'work announcement failed'));
        };
        return () => {
          // A NOTIFY already due covers this call: it is sent after this call's commit.
          if (wakeTimer) return;
          const wait = last + WAKE_GAP_MS - performance.now();
          if (wait <= 0) notify();
          else wakeTimer = setTimeout(notify, wait);
        };
      })()
    : () => undefined;
  const worker = new Worker(queue, engine, {
    clock,
    ...(o.worker?.id ? { id: o.worker.id } : {}),
    pollMs: o.worker?.pollMs ?? 250,
    batch: o.worker?.batch ?? 32,
    visibilityMs: o.worker?.visibilityMs ?? 60_000,
    ...(o.worker?.lingerMs !== undefined ? { lingerMs: o.worker.lingerMs } : {}),
    ...(o.worker?.lingerMaxMs !== undefined ? { lingerMaxMs: o.worker.lingerMaxMs } : {}),
    onError: (e, kind) => o.logger?.error({ err: e, job: kind }, 'workflow step failed'),
  });
  const service = new IntentService({
    db: o.db,
    intents,
    approvals,
    outbox,
    engine,
    wallets,
    chains,
    ...(o.verifier ? { verifier: o.verifier } : {}),
    ...(o.approvals ? { approvalsPort: o.approvals } : {}),
    ...(o.counters ? { counters: o.counters } : {}),
    clock,
    poke: workerOn ? () => worker.poke() : announce,
  });
  // `/readyz` is unauthenticated and each co-signer's status verifies its refusal log and counts its
  // ledger: one answer per second, shared by every caller, so probes (or anyone) calling /readyz in
  // a loop cannot multiply that work on the co-signers.
  const cosignersReady = new Sampled(async () => {
    const out: Record<string, boolean> = {};
    await Promise.all(
      o.cosigners.map(async (c) => {
        out[`cosigner:${c.id}`] = (await c.status()) !== undefined;
      }),
    );
    return out;
  }, READINESS_TTL_MS);
  const directory: DirectoryPort = o.directory ?? {
    principals: () => [],
    wallets: () => routes(),
    addressBook: () => [],
  };
  const app = await buildApp(
    {
      db: o.db,
      intents,
      queue,
      idempotency,
      alerts,
      service,
      metrics,
      directory,
      ...(o.governance ? { governance: o.governance } : {}),
      ...(o.auditReader ? { audit: o.auditReader } : {}),
      ...(o.trustChain ? { trustChain: o.trustChain } : {}),
      clock,
      readiness: () => cosignersReady.get(Date.now()),
    },
    { ...(o.logger ? { logger: o.logger } : {}), ...(o.http ?? {}) },
  );
  let stopListening: (() => Promise<void>) | undefined;
  if (workerOn) {
    worker.start();
    if (wake && o.db.listen) stopListening = await o.db.listen(wake, () => worker.poke());
  }
  const watchDeps: WatchtowerDeps = {
    db: o.db,
    audit: o.audit,
    alerts,
    metrics,
    wallets: o.watch?.wallets ?? (() => []),
    ...(o.watch?.webhooks ? { webhooks: o.watch.webhooks } : {}),
    clock,
    onError: (chain, err) => o.logger?.error({ err, chain }, 'watchtower poll failed'),
    ...(workerOn
      ? {
          onNewBlocks: (chain: string) => {
            engine.noteNewBlock(chain);
            void engine
              .wakeConfirms(chain)
              .then((n) => {
                if (n > 0) worker.wake(JOB.confirm);
              })
              .catch((err) => o.logger?.error({ err, chain }, 'waking confirmations failed'));
          },
        }
      : {}),
  };
  const watchtowers =
    o.watch && o.watch.chains.length > 0 ? startWatchtowers(watchDeps, o.watch.chains) : undefined;
  const bitcoinWatchtowers =
    o.watch?.bitcoin && o.watch.bitcoin.length > 0
      ? startBitcoinWatchtowers(watchDeps, o.watch.bitcoin)
      : undefined;
  o.webhookDispatcher?.dispatcher.start(o.webhookDispatcher.pollMs);
  return {
    app,
    worker,
    engine,
    service,
    metrics,
    intents,
    outbox,
    alerts,
    queue,
    raiseEvmAlert: (a) => persistEvmAlert(watchDeps, a),
    async close() {
      clearTimeout(wakeTimer);
      await watchtowers?.stop();
      await bitcoinWatchtowers?.stop();
      await stopListening?.();
      await worker.stop();
      await o.webhookDispatcher?.dispatcher.stop();
      await app.close();
    },
  };
}
