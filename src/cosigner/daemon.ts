import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hexToBytes } from '@noble/hashes/utils.js';
import { ed25519PublicKey } from '../core/auth/request.ts';
import { signerAddress } from '../core/chains/evm/index.ts';
import { parseStrictJson } from '../core/encoding/strict-json.ts';
import { CustosError } from '../core/errors/base.ts';
import type { Secp256k1Signer } from '../keys/backend.ts';
import { openFileSigner } from '../keys/file.ts';
import { openPkcs11Signer } from '../keys/pkcs11.ts';
import type { Db } from '../store/db.ts';
import { loadMigrations, migrate } from '../store/migrate.ts';
import { openPglite } from '../store/pglite.ts';
import { openPostgres } from '../store/postgres.ts';
import type { CosignerChecks } from './checks.ts';
import { type CosignerConfig, readSecret } from './config.ts';
import { viemChainReader } from './evm-rpc.ts';
import type { PipelineDeps } from './pipeline.ts';
import { realChecks } from './real-checks.ts';
import { buildServer } from './server.ts';
import { governanceBundleVerifier, type TrustStore, trustStore } from './trust.ts';

export const COSIGNER_MIGRATIONS_DIR = new URL('./migrations/', import.meta.url).pathname;

export async function openCosignerDb(c: CosignerConfig['store']): Promise<Db> {
  const db = c.postgres
    ? await openPostgres({
        connectionString: readSecret(c.postgres.url, 'store.postgres.url'),
        schema: c.postgres.schema,
        ...(c.postgres.idleTimeoutMs ? { idleTimeoutMs: c.postgres.idleTimeoutMs } : {}),
        ...(c.postgres.prepare === false ? { prepare: false } : {}),
      })
    : await openPglite({ dataDir: c.pgliteDir });
  await migrate(db, loadMigrations(COSIGNER_MIGRATIONS_DIR));
  return db;
}

export async function openSigner(k: CosignerConfig['key']): Promise<Secp256k1Signer> {
  if (k.backend === 'file')
    return openFileSigner({ path: k.path, passphrase: readSecret(k.passphrase, 'key.passphrase') });
  return openPkcs11Signer({
    library: k.library,
    tokenLabel: k.tokenLabel,
    keyLabel: k.keyLabel,
    pin: readSecret(k.pin, 'key.pin'),
  });
}

async function fetchBundleText(c: CosignerConfig['bundle']): Promise<string | undefined> {
  if (c.file) return readFileSync(c.file, 'utf8');
  if (c.url) {
    const r = await fetch(c.url, { signal: AbortSignal.timeout(10_000) });
    if (!r.ok)
      throw new CustosError('BUNDLE_FETCH_FAILED', 'coordinator did not serve the bundle chain', {
        details: { status: r.status },
      });
    return r.text();
  }
  return undefined;
}

export interface RunningCosigner {
  url: string;
  deps: PipelineDeps;
  trust: TrustStore;
  close(): Promise<void>;
}

/** Starts the co-signer daemon: store, key, trust bundle, HTTP API. */
export async function startCosigner(
  config: CosignerConfig,
  opts: { log?: (line: string) => void; checks?: CosignerChecks; now?: () => number } = {},
): Promise<RunningCosigner> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const now = opts.now ?? Date.now;
  if (config.faultInjection && process.env.CUSTOS_ALLOW_FAULT_INJECTION !== '1')
    throw new CustosError(
      'FAULT_INJECTION_REFUSED',
      'faultInjection is for tests only (CUSTOS_ALLOW_FAULT_INJECTION=1)',
    );
  const db = await openCosignerDb(config.store);
  const signer = await openSigner(config.key).catch(async (e) => {
    await db.close();
    throw e;
  });
  const genesis =
    'file' in config.genesis && typeof config.genesis.file === 'string'
      ? parseStrictJson(readFileSync(config.genesis.file, 'utf8'), 'genesis')
      : config.genesis;
  const trust = trustStore(db, genesis, governanceBundleVerifier(), now);
  const reloaded = await trust.reload();
  if (!reloaded.ok && reloaded.code !== 'NO_TRUST_BUNDLE')
    log(JSON.stringify({ level: 'error', msg: 'stored trust bundle does not verify', code: reloaded.code }));
  // Re-verifying an unchanged chain every refresh is wasted work, unless one of its bundles has
  // become effective since the last check (a pending bundle applies once its delay is over).
  let last: { text: string; nextEffectiveMs: number } | undefined;
  const refresh = async () => {
    try {
      const text = await fetchBundleText(config.bundle);
      if (text === undefined) return;
      if (last && text === last.text && now() < last.nextEffectiveMs && trust.current()) return;
      const chain = parseStrictJson(text, 'bundle chain');
      const r = await trust.accept(chain);
      if (!r.ok) log(JSON.stringify({ level: 'error', msg: 'trust bundle refused', code: r.code }));
      const pending = (Array.isArray(chain) ? chain : [])
        .map((b) => Date.parse((b as { effectiveAt?: string })?.effectiveAt ?? ''))
        .filter((t) => Number.isFinite(t) && t > now());
      last = { text, nextEffectiveMs: pending.length ? Math.min(...pending) : Number.POSITIVE_INFINITY };
    } catch (e) {
      log(JSON.stringify({ level: 'error', msg: 'trust bundle fetch failed', error: String(e) }));
    }
  };
  await refresh();
  const timer = setInterval(refresh, config.bundle.refreshSeconds * 1000);
  timer.unref();

  const keys = new Map<string, KeyObject>(
    config.requestKeys.map((k) => [k.keyId, ed25519PublicKey(hexToBytes(k.publicKey))]),
  );
  const evmAddress = await signerAddress(
    signer,
    config.key.backend === 'file' ? config.key.evmPath : undefined,
  );
  const checks =
    opts.checks ??
    realChecks({
      evm: viemChainReader(config.chains.evm),
      evmSignerAddress: evmAddress,
      evmKeyPath: config.key.backend === 'file' ? config.key.evmPath : undefined,
    });
  const fi = config.faultInjection;
  const deps: PipelineDeps = {
    db,
    signer,
    checks,
    trust: trust.current,
    cosignerId: config.id,
    requestKey: (id) => keys.get(id),
    now,
    replayWindowMs: config.replayWindowMs,
    ...(fi
      ? {
          fault: async (point) => {
            if (point !== fi.point) return;
            log(JSON.stringify({ level: 'warn', msg: 'fault injection pause', point }));
            await new Promise((r) => setTimeout(r, fi.pauseMs));
          },
        }
      : {}),
  };
  const tls = config.listen.tls;
  const app = buildServer(
    deps,
    tls ? { https: { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } } : {},
  );
  const address = await app.listen({ host: config.listen.host, port: config.listen.port });
  log(
    JSON.stringify({
      level: 'info',
      msg: 'cosigner listening',
      id: config.id,
      url: address,
      evmAddress,
      bundle: trust.current() ? { sequence: trust.current()!.sequence } : null,
    }),
  );
  return {
    url: address,
    deps,
    trust,
    async close() {
      clearInterval(timer);
      await app.close();
      await signer.close();
      await db.close();
    },
  };
}
