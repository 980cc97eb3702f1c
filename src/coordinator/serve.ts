import { readFileSync } from 'node:fs';
import { hexToBytes } from '@noble/hashes/utils.js';
import { pino } from 'pino';
import { BitcoinCoreRpc } from '../bitcoin/rpc.ts';
import { ed25519PrivateKey } from '../core/auth/index.ts';
import { parseStrictJson } from '../core/encoding/strict-json.ts';
import { InvalidInputError } from '../core/errors/base.ts';
import type { Genesis } from '../core/governance/types.ts';
import { evmKnownStore } from '../evm/known-store.ts';
import { AuditLog } from '../store/audit.ts';
import type { Db } from '../store/db.ts';
import { GovernanceService } from '../store/governance/service.ts';
import { openDb } from '../store/open.ts';
import { PrincipalStore } from '../store/principals.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { WebhookOutbox } from '../webhooks/outbox.ts';
import { approvalAdapters } from './adapters/approval.ts';
import { auditReader } from './adapters/audit.ts';
import { governanceAdapter } from './adapters/governance.ts';
import { policyAdapter } from './adapters/policy.ts';
import type { WatchedBitcoinChain } from './bitcoin-watchtower.ts';
import { BitcoinChain } from './chains/bitcoin.ts';
import { EvmChain } from './chains/evm.ts';
import { type CoordinatorConfig, configPath, readSecretRef } from './config.ts';
import { type Coordinator, createCoordinator } from './coordinator.ts';
import { HttpCosigner } from './cosigner-client.ts';
import { syncPrincipalsFromBundle } from './principal-sync.ts';
import { type TrustSnapshot, TrustView } from './trust.ts';
import type { WatchedChain } from './watchtower.ts';
import type { ChainPort } from './workflow/ports.ts';

/** Where API-only processes announce new work to the workflow processes (PostgreSQL NOTIFY). */
const WAKE_CHANNEL = 'custos_work';

export interface RunningCoordinator {
  coordinator: Coordinator;
  db: Db;
  trust: TrustView;
  governance: GovernanceService;
  audit: AuditLog;
  url: string;
  close(): Promise<void>;
}

/**
 * TEST-ONLY compromised coordinator: after approval, the transaction it builds for intents with
 * this reference pays `destination` instead (the Bybit/DMM pattern). Co-signers must refuse.
 */
function tamperingChain(inner: ChainPort, reference: string, destination: string): ChainPort {
  return {
    build: async (intent) => {
      const tx = await inner.build(intent);
      if (intent.reference !== reference) return tx;
      if (tx.kind === 'safe') return { ...tx, safeTx: { ...tx.safeTx, to: destination } };
      return tx;
    },
    finalize: (i, t, s) => inner.finalize(i, t, s),
    broadcast: (r) => inner.broadcast(r),
    status: (h) => inner.status(h),
    ...(inner.decode
      ? { decode: (t: Parameters<NonNullable<ChainPort['decode']>>[0]) => inner.decode!(t) }
      : {}),
  };
}

export function readGenesis(cfg: CoordinatorConfig): Genesis {
  if ('file' in cfg.genesis) {
    const p = configPath(cfg, cfg.genesis.file);
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (cause) {
      throw new InvalidInputError('CONFIG_INVALID', 'genesis.file', `cannot read genesis file ${p}`, {
        cause,
      });
    }
    return parseStrictJson(text, 'genesis') as Genesis;
  }
  return cfg.genesis;
}

/**
 * Starts a coordinator from its configuration: database (PGlite or PostgreSQL) with migrations,
 * audit log, governance and the trust view, co-signer clients, chain adapters, workflow worker
 * and the HTTP API. Logs are pino JSON; secrets never reach them (header redaction, secrets are
 * read here and kept out of the config object).
 */
export async function startCoordinator(
  cfg: CoordinatorConfig,
  opts: { env?: NodeJS.ProcessEnv; logDestination?: NodeJS.WritableStream; port?: number } = {},
): Promise<RunningCoordinator> {
  const env = opts.env ?? process.env;
  const logger = pino(
    {
      level: cfg.log.level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers["custos-signature"]', '*.seed', '*.token'],
        remove: true,
      },
    },
    // Asynchronous writes: a synchronous write to a slow pipe or disk would stall the event loop
    // for every request logged (flushed on close).
    (opts.logDestination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }),
  );
  const db = await openDb(
    cfg.database.postgres
      ? {
          databaseUrl: readSecretRef(cfg, cfg.database.postgres.url, 'database.postgres.url', env),
          ...(cfg.database.postgres.schema ? { schema: cfg.database.postgres.schema } : {}),
          ...(cfg.database.postgres.poolSize ? { poolSize: cfg.database.postgres.poolSize } : {}),
          ...(cfg.database.postgres.idleTimeoutMs
            ? { idleTimeoutMs: cfg.database.postgres.idleTimeoutMs }
            : {}),
          ...(cfg.database.postgres.prepare === false ? { prepare: false } : {}),
          onStatistics: (e) =>
            e.kind === 'analyzed'
              ? logger.info({ tables: e.tables }, 'analyzed tables autovacuum does not (planner statistics)')
              : logger.warn({ err: e.error }, 'planner statistics upkeep failed (retried)'),
        }
      : { dataDir: configPath(cfg, cfg.database.pgliteDir!) },
  );
  const now = () => new Date().toISOString();
  const audit = new AuditLog(db, {
    now,
    onSealError: (err) => logger.error({ err }, 'audit seal failed (retried)'),
    // An API-only process leaves chaining its submits' staged entries to the workflow tier.
    sealOnStage: cfg.role !== 'api',
  });
  // Staged workflow entries are chained into the log by this sealer (and by any other process's).
  audit.startSealer();
  const genesis = readGenesis(cfg);
  // Webhooks: the configured endpoints replace the stored set; alerts and governance events are
  // enqueued in their own transactions and delivered by the dispatcher loop below.
  let webhooks: WebhookOutbox | undefined;
  if (cfg.webhooks) {
    webhooks = new WebhookOutbox(db);
    await webhooks.syncEndpoints(
      cfg.webhooks.endpoints.map((e, i) => ({
        id: e.id,
        url: e.url,
        secret: readSecretRef(cfg, e.secret, `webhooks.endpoints.${i}.secret`, env),
        events: e.events,
      })),
      now(),
    );
  }
  // WebAuthn signature counters live in the principals tables, synced from the bundle in force at
  // start-up and whenever the trust view moves to a new bundle (whoever executed it). Not inside
  // governance execution: a bundle's execution must not depend on this side table.
  const principals = new PrincipalStore(db, now);
  const governance = new GovernanceService(db, { genesis, now, audit, ...(webhooks ? { webhooks } : {}) });
  const trust = new TrustView(governance, cfg.api.webauthn ? { webauthn: cfg.api.webauthn } : {});
  let syncedVersion = 0;
  const refreshTrust = async (): Promise<TrustSnapshot> => {
    const snap = await trust.refresh();
    if (!snap.bundle || snap.bundle.version === syncedVersion) return snap;
    // Until the sync commits, a new credential has no counter row and a non-zero counter from it
    // is refused as a replay (fail closed); who may sign always follows the bundle in `snap`. A
    // failed sync (e.g. a forged row holding a bundle credential's key) is logged and retried.
    try {
      const r = await syncPrincipalsFromBundle({ db, governance, principals, audit });
      if (r) {
        syncedVersion = r.version;
        if (r.changes > 0) logger.info({ bundle: r.version, changes: r.changes }, 'principals synced');
      }
    } catch (err) {
      logger.error(
        { err },
        'principals sync from the trust bundle failed: counters of new credentials refuse',
      );
    }
    return snap;
  };
  await refreshTrust();
  if (!trust.current.bundle)
    logger.warn('no trust bundle yet: every intent will be refused until one is executed');

  const seed = hexToBytes(readSecretRef(cfg, cfg.requestKey.seed, 'requestKey.seed', env));
  if (seed.length !== 32)
    throw new InvalidInputError('CONFIG_INVALID', 'requestKey.seed', 'must be 32 bytes hex');
  const requestKey = { keyId: cfg.requestKey.keyId, privateKey: ed25519PrivateKey(seed) };
  seed.fill(0);
  const cosigners = cfg.cosigners.map(
    (c) =>
      new HttpCosigner({
        id: c.id,
        url: c.url,
        key: requestKey,
        ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}),
      }),
  );
  const chains = new Map<string, ChainPort>();
  const watched: WatchedChain[] = [];
  for (const [chain, c] of Object.entries(cfg.chains.evm)) {
    const relayerKey = c.relayerKey
      ? readSecretRef(cfg, c.relayerKey, `chains.evm.${chain}.relayerKey`, env)
      : undefined;
    const evm = new EvmChain({
      chain,
      rpcUrl: c.rpc,
      wallets: () => trust.current.wallets,
      ...(relayerKey ? { relayerKey: relayerKey as `0x${string}` } : {}),
      ...(c.safeExecGas !== undefined
        ? { safeExecGas: c.safeExecGas === 'estimate' ? ('estimate' as const) : BigInt(c.safeExecGas) }
        : {}),
      batch: c.rpcBatch,
      sampleMs: c.sampleMs,
      // what the watchtower must not flag: recorded before each broadcast (I7)
      known: evmKnownStore(db, chain),
    });
    chains.set(chain, evm);
    if (c.watch.enabled && cfg.role !== 'api')
      watched.push({
        chain,
        client: evm.client,
        pollMs: c.watch.pollMs,
        confirmations: c.watch.confirmations,
        sweepEvery: c.watch.sweepEvery,
      });
  }
  const watchedBitcoin: WatchedBitcoinChain[] = [];
  for (const [chain, c] of Object.entries(cfg.chains.bitcoin)) {
    const key = `chains.bitcoin.${chain}.node.credentials`;
    const cred = readSecretRef(cfg, c.node.credentials, key, env);
    const colon = cred.indexOf(':');
    if (colon <= 0) throw new InvalidInputError('CONFIG_INVALID', key, `${key}: must be user:password`);
    const rpc = new BitcoinCoreRpc({
      url: c.node.url,
      auth: { username: cred.slice(0, colon), password: cred.slice(colon + 1) },
      ...(c.node.wallet ? { wallet: c.node.wallet } : {}),
      timeoutMs: c.node.timeoutMs,
    });
    chains.set(
      chain,
      new BitcoinChain({
        chain,
        rpc,
        db,
        wallets: () => trust.current.wallets,
        feeTargetBlocks: c.feeTargetBlocks,
        scanUpTo: c.scanUpTo,
        minConf: c.minConf,
      }),
    );
    if (c.watch.enabled && cfg.role !== 'api')
      watchedBitcoin.push({
        chain,
        source: rpc,
        pollMs: c.watch.pollMs,
        scanUpTo: c.scanUpTo,
        ...(c.watch.startHeight !== undefined ? { startHeight: c.watch.startHeight } : {}),
      });
  }
  const fi = cfg.faultInjection;
  if (fi && env.CUSTOS_ALLOW_FAULT_INJECTION !== '1') {
    throw new InvalidInputError(
      'FAULT_INJECTION_REFUSED',
      'faultInjection',
      'faultInjection is for tests only (CUSTOS_ALLOW_FAULT_INJECTION=1)',
    );
  }
  if (fi?.rewriteDestination) {
    for (const [id, port] of chains)
      chains.set(id, tamperingChain(port, fi.rewriteDestination.reference, fi.rewriteDestination.to));
  }
  const { verifier, approvals } = approvalAdapters(() => trust.current.principals);
  const gov = governanceAdapter(governance, refreshTrust);
  const readTokens = new Map(
    cfg.api.readTokens.map((t, i) => [
      readSecretRef(cfg, t.token, `api.readTokens.${i}.token`, env),
      t.principal,
    ]),
  );
  const cosignerIds = cfg.cosigners.map((c) => c.id);
  const coordinator = await createCoordinator({
    db,
    audit,
    auditReader: auditReader(db, audit, () => trust.current.bundle?.config.checkpointKeys ?? []),
    verifier,
    approvals,
    // Counters only: which credentials may sign is decided by `verifier`/`approvals` from the bundle.
    counters: principals,
    policy: policyAdapter({
      db,
      policy: () => trust.policy(),
      principals: () => trust.current.principals,
      addressBook: async (chain) => trust.current.addressBook.filter((e) => e.chain === chain),
      screeningRequired: () => (trust.current.bundle?.config.screening.length ?? 0) > 0,
    }),
    wallets: () => trust.routes(cfg.routing, cosignerIds),
    walletRoute: (id) => trust.route(id, cfg.routing, cosignerIds),
    cosigners,
    chains,
    directory: {
      principals: () => trust.current.bundle?.config.principals ?? [],
      wallets: () =>
        (trust.current.bundle?.config.wallets ?? []).map((w) => ({
          ...w,
          route: trust.routes(cfg.routing, cosignerIds).find((r) => r.id === w.id),
        })),
      addressBook: () => trust.current.addressBook,
    },
    governance: gov,
    trustChain: () => trust.current.chain,
    logger,
    http: {
      bodyLimitBytes: cfg.api.bodyLimitBytes,
      ...(cfg.api.rateLimit ? { rateLimit: cfg.api.rateLimit } : {}),
      readTokens,
      ...(cfg.publicUrl ? { publicUrl: cfg.publicUrl } : {}),
    },
    worker: { ...cfg.worker, enabled: cfg.worker.enabled && cfg.role !== 'api' },
    polling: { confirmPollMs: cfg.worker.confirmPollMs },
    wakeChannel: WAKE_CHANNEL,
    watch: {
      chains: watched,
      bitcoin: watchedBitcoin,
      wallets: () => trust.current.wallets,
      ...(webhooks ? { webhooks } : {}),
    },
    ...(webhooks && cfg.webhooks
      ? {
          webhookDispatcher: {
            dispatcher: new WebhookDispatcher(webhooks, {
              now,
              timeoutMs: cfg.webhooks.timeoutMs,
              maxAttempts: cfg.webhooks.maxAttempts,
            }),
            pollMs: cfg.webhooks.pollMs,
          },
        }
      : {}),
    ...(fi?.pause
      ? {
          fault: async (point, rec) => {
            const p = fi.pause!;
            if (point !== p.point || !rec.intentJson.includes(`"reference":${JSON.stringify(p.reference)}`))
              return;
            logger.warn({ point, intent: rec.id }, 'fault injection pause');
            await new Promise((r) => setTimeout(r, p.ms));
          },
        }
      : {}),
  });
  const timer = setInterval(() => {
    void gov
      .executeDue()
      .then(refreshTrust)
      .catch((err) => logger.error({ err }, 'trust refresh failed'));
  }, cfg.trustRefreshMs);
  timer.unref();
  const address = await coordinator.app.listen({ host: cfg.listen.host, port: opts.port ?? cfg.listen.port });
  logger.info({ url: address, bundle: trust.current.bundle?.version ?? null }, 'coordinator listening');
  return {
    coordinator,
    db,
    trust,
    governance,
    audit,
    url: address,
    async close() {
      clearInterval(timer);
      await coordinator.close();
      await audit.stopSealer();
      await db.close();
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    },
  };
}
