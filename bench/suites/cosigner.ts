import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { getAddress } from 'viem';
import {
  bodyDigest,
  buildSignHttpRequest,
  ed25519PublicKey,
  ed25519RawPublicKey,
  MAX_SIGN_BATCH,
  signRequest,
  verifySignedRequest,
} from '../../src/core/auth/index.ts';
import { signerAddress } from '../../src/core/chains/evm/index.ts';
import type { SafeWallet } from '../../src/core/chains/evm/wallet-config.ts';
import { ok } from '../../src/core/errors/base.ts';
import { intentDigest } from '../../src/core/intent/index.ts';
import type { EvmChainReader } from '../../src/cosigner/evm-rpc.ts';
import { realChecks } from '../../src/cosigner/real-checks.ts';
import { createSafe, deploySafeInfrastructure } from '../../src/evm/deploy.ts';
import type { Secp256k1Signer } from '../../src/keys/backend.ts';
import { generateFileKey, openFileSigner } from '../../src/keys/file.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { generatePkcs11Key, openPkcs11Signer, SOFTHSM_LIBRARY } from '../../src/keys/pkcs11.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { dropSchema, openPostgres } from '../../src/store/postgres.ts';
import {
  admins,
  approvalsFor,
  COORDINATOR_KEY_ID,
  coordinatorKey,
  DEST,
  harness,
  hotTx,
  intent,
  migrateCosigner,
  principals,
  requester,
} from '../../test/cosigner/fixture.ts';
import { safeCosigners } from '../../test/cosigner/safe-fixture.ts';
import { CHAIN } from '../../test/evm/world.ts';
import { config, firstBundle } from '../../test/governance/fixtures.ts';
import { startAnvil } from '../../test/helpers/anvil.ts';
import { type Backend, pgliteBackend, postgresAvailable, postgresBackend } from '../../test/helpers/db.ts';
import { batchVsSingle, safeBatch } from '../cosigner-batch.ts';
import { type BenchSuite, measure, measureSync, type SuiteResult } from '../report.ts';

/**
 * Co-signer: signing ops/s per key backend (memory test double, encrypted keystore raw key and
 * BIP 32 seed at a path, PKCS#11 on SoftHSM), signed-request verification ops/s, and the whole
 * `POST /v1/sign` pipeline in-process (Fastify inject, no network) on PGlite and PostgreSQL with
 * an auto-approve policy: auth + strict parse + requester signature + policy with ledger +
 * approvals (2 Ed25519) + EVM hot-tx decode/verify + I8 ledger transaction + signing.
 * Single-threaded: numbers are per core.
 */
function softhsmToken(dir: string): { tokenLabel: string; pin: string } | undefined {
  if (!existsSync(SOFTHSM_LIBRARY)) return undefined;
  const tokendir = join(dir, 'tokens');
  mkdirSync(tokendir);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  try {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    return undefined;
  }
  return { tokenLabel: 'bench', pin: '1234' };
}

const autoApprovePolicy = {
  version: 1,
  name: 'bench-auto-approve',
  assets: { 'eip155:1/slip44:60': { symbol: 'ETH', decimals: 18 } },
  groups: { treasury: { members: ['alice', 'bob', 'carol'] } },
  rules: [
    {
      name: 'block-unknown',
      when: { destination: { known: false } },
      action: 'block',
      reason: 'address book only',
    },
    {
      name: 'approve-eth',
      when: { asset: ['ETH'] },
      action: 'approve',
      approve: { quorum: 2, from: ['treasury'] },
    },
  ],
};

type OpenDb = () => Promise<{ db: Parameters<typeof migrateCosigner>[0]; close(): Promise<void> }>;

/** A co-signer on `db` with the auto-approve bench policy (2 approvals, no velocity limits). */
async function benchHarness(db: Parameters<typeof migrateCosigner>[0]) {
  await migrateCosigner(db);
  return harness(db, {
    bundle: (address) =>
      firstBundle(
        admins,
        config(admins, {
          policy: autoApprovePolicy,
          principals: principals(),
          addressBook: [
            {
              chain: 'eip155:1',
              address: DEST,
              label: 'cold',
              category: 'cold-storage',
              status: 'active',
              addedAt: '2026-01-01T00:00:00Z',
              activeFrom: '2026-01-02T00:00:00Z',
            },
          ],
          wallets: [{ id: 'hot-1', chain: 'eip155:1', type: 'evm-hot', config: { address } }],
        }),
      ),
  });
}

async function pipelineBench(name: string, openDb: OpenDb, ms: number) {
  const { db, close } = await openDb();
  const h = await benchHarness(db);
  // One nonce per request: the chain reader double reports the nonce of the next request.
  let nonce = 0n;
  h.deps.checks = realChecks({
    evm: { hotState: async () => ok({ chainId: 1n, nonce }), safeState: async () => ok(undefined as never) },
    evmSignerAddress: h.address,
  });
  const prepared = Array.from({ length: 20_000 }, (_, k) => k);
  let k = 0;
  const r = await measure(
    async () => {
      const n = prepared[k++]!;
      nonce = BigInt(n);
      const id = `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
      const i = intent({ id, amount: '1000' });
      const body = {
        intent: i,
        requesterSignature: requester.sign(intentDigest(i), 'svc-backoffice'),
        approvals: approvalsFor(i),
        tx: { kind: 'evm-hot' as const, unsignedTx: hotTx({ nonce: n, value: 1000n }) },
      };
      const res = await h.send(body);
      if (res.status !== 200) throw new Error(`pipeline refused: ${JSON.stringify(res.json)}`);
    },
    { ms, warmup: 20 },
  );
  await close();
  return {
    name,
    opsPerSec: r.opsPerSec,
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    extra: { includesClientSideSigning: true },
  };
}

const SAFE_DEST = getAddress('0x00000000000000000000000000000000000c0de5');
const randomAddress = () => getAddress(`0x${randomBytes(20).toString('hex')}`);

/**
 * The Safe path of `/v1/sign-batch` (what the e2e bench's co-signers do): 64 Safes 1.4.1 per
 * request, one item per Safe, file-keystore key, on each database backend given. Variants: a TEST
 * DOUBLE chain reader reporting each Safe's registered configuration (the co-signer's own work
 * only), with the e2e demo policy's "allow" tier (no approvals) and with a 2-approval quorum; then,
 * when anvil is installed, the real reader against real Safes on anvil (chain reads included;
 * anvil's CPU is not).
 */
export async function safeBenches(
  signer: Secp256k1Signer,
  o: { rounds: number; backends: [string, Backend][] },
  notes: string[],
  timed?: (label: string, phase: 'start' | 'stop') => Promise<void>,
): Promise<SuiteResult['measurements']> {
  const out: SuiteResult['measurements'] = [];
  const owner = await signerAddress(signer);
  const size = MAX_SIGN_BATCH;
  const singleton = randomAddress();
  const fallbackHandler = randomAddress();
  const fakes: SafeWallet[] = Array.from({ length: size }, (_, k) => ({
    id: `safe-${k}`,
    chain: CHAIN,
    type: 'safe',
    config: {
      address: randomAddress(),
      version: '1.4.1',
      singleton,
      owners: [owner, randomAddress(), randomAddress()],
      threshold: 2,
      modules: [],
      guard: '0x0000000000000000000000000000000000000000',
      fallbackHandler,
    },
  }));
  const byAddress = new Map(fakes.map((s) => [s.config.address.toLowerCase(), s.config]));
  let nonce = 0n;
  const double: EvmChainReader = {
    hotState: async () => ok(undefined as never),
    safeState: async (_chain, safe) => {
      const c = byAddress.get(safe.toLowerCase())!;
      return ok({
        chainId: 31337n,
        nonce,
        singleton: c.singleton,
        owners: c.owners,
        threshold: BigInt(c.threshold),
        modules: [],
        guard: c.guard,
        fallbackHandler: c.fallbackHandler,
      });
    },
  };

  let anvil: Awaited<ReturnType<typeof startAnvil>> | undefined;
  const safes: SafeWallet[] = [];
  try {
    anvil = await startAnvil();
    const deployer = anvil.wallet(`0x${bytesToHex(randomBytes(32))}`);
    await anvil.fund(deployer.account.address, 10n ** 24n);
    const infra = await deploySafeInfrastructure(deployer, anvil.client, '1.4.1');
    const others = [randomAddress(), randomAddress()];
    for (let k = 0; k < size; k++) {
      const config = await createSafe(deployer, anvil.client, infra, {
        owners: [owner, ...others],
        threshold: 2,
        saltNonce: BigInt(k + 1),
      });
      safes.push({ id: `safe-${k}`, chain: CHAIN, type: 'safe', config });
    }
  } catch (e) {
    notes.push(`anvil not available, Safe-on-anvil bench skipped: ${String(e).slice(0, 100)}`);
    await anvil?.stop();
    anvil = undefined;
  }
  try {
    for (const [db, backend] of o.backends) {
      try {
        for (const approvals of [false, true]) {
          const [h] = await safeCosigners({
            backend,
            signers: [signer],
            safes: fakes,
            rpc: 'http://127.0.0.1:9',
            policyName: 'bench-safe',
            destination: SAFE_DEST,
            allowWithoutApprovals: !approvals,
          });
          h!.deps.checks = realChecks({ evm: double, evmSignerAddress: h!.address });
          out.push(
            await safeBatch(`${db}, chain-read test double`, h!, fakes, {
              rounds: o.rounds,
              destination: SAFE_DEST,
              approvals,
              advance: async (n) => {
                nonce = n;
              },
              timed: timed && ((phase) => timed(`${db}-double${approvals ? '-approvals' : ''}`, phase)),
            }),
          );
        }
        if (!anvil) continue;
        const a = anvil;
        const [ha] = await safeCosigners({
          backend,
          signers: [signer],
          safes,
          rpc: a.rpcUrl,
          policyName: 'bench-safe-anvil',
          destination: SAFE_DEST,
          allowWithoutApprovals: true,
        });
        out.push(
          await safeBatch(`${db}, real Safes on anvil (viem reader)`, ha!, safes, {
            rounds: o.rounds,
            destination: SAFE_DEST,
            approvals: false,
            // Safe 1.3.0/1.4.1 storage: slot 5 is `nonce`. Set directly so each round's intents
            // spend the next nonce without executing anything on chain.
            advance: async (n) => {
              const word = `0x${n.toString(16).padStart(64, '0')}`;
              await Promise.all(
                safes.map((s) => a.rpc('anvil_setStorageAt', [s.config.address, '0x5', word])),
              );
              await a.mine();
            },
            timed: timed && ((phase) => timed(`${db}-anvil`, phase)),
          }),
        );
      } finally {
        await backend.cleanup();
      }
    }
  } finally {
    await anvil?.stop();
  }
  return out;
}

const suite: BenchSuite = {
  name: 'cosigner',
  async run(ctx): Promise<SuiteResult> {
    const ms = ctx.quick ? 300 : 1500;
    const dir = mkdtempSync(join(tmpdir(), 'custos-bench-cosigner-'));
    const measurements: SuiteResult['measurements'] = [];
    const notes: string[] = [];
    const ratios: Record<string, number> = {};
    try {
      const digest = sha256(new TextEncoder().encode('bench'));
      const signers: [string, Secp256k1Signer, string | undefined][] = [
        ['memory (test double)', memorySigner('m', new Uint8Array(32).fill(1)), undefined],
      ];
      await generateFileKey({
        path: join(dir, 'raw.json'),
        passphrase: 'bench-pass',
        label: 'raw',
        keyType: 'secp256k1',
      });
      signers.push([
        'file keystore, raw key',
        await openFileSigner({ path: join(dir, 'raw.json'), passphrase: 'bench-pass' }),
        undefined,
      ]);
      await generateFileKey({
        path: join(dir, 'seed.json'),
        passphrase: 'bench-pass',
        label: 'seed',
        keyType: 'bip32-seed',
      });
      signers.push([
        "file keystore, BIP 32 seed at m/48'/0'/0'/2'/0/5",
        await openFileSigner({ path: join(dir, 'seed.json'), passphrase: 'bench-pass' }),
        "m/48'/0'/0'/2'/0/5",
      ]);
      const token = softhsmToken(dir);
      if (token) {
        const base = { library: SOFTHSM_LIBRARY, ...token, keyLabel: 'bench-key' };
        generatePkcs11Key(base);
        signers.push(['PKCS#11 SoftHSM (non-extractable)', openPkcs11Signer(base), undefined]);
      } else notes.push('SoftHSM not installed: PKCS#11 signing not measured (apt-get install softhsm2)');
      // The Safe path with the file keystore (raw key), as the e2e co-signers run.
      try {
        const dbs: [string, Backend][] = [['PGlite', pgliteBackend()]];
        if (ctx.databaseUrl && (await postgresAvailable())) dbs.push(['PostgreSQL', postgresBackend()]);
        measurements.push(
          ...(await safeBenches(signers[1]![1], { rounds: ctx.quick ? 3 : 10, backends: dbs }, notes)),
        );
      } catch (e) {
        notes.push(`Safe batch not measured: ${e instanceof Error ? e.message : String(e)}`);
      }
      for (const [label, s, path] of signers) {
        const r = await measure(() => s.signDigest(digest, path), { ms });
        measurements.push({
          name: `sign digest: ${label}`,
          opsPerSec: r.opsPerSec,
          p50Us: r.p50Us,
          p99Us: r.p99Us,
        });
        await s.close();
      }

      // Signed-request verification (Ed25519 via node:crypto, cached KeyObject, 2 KiB body).
      const pub = ed25519PublicKey(ed25519RawPublicKey(coordinatorKey));
      const body = randomBytes(2048);
      const now = 1_780_000_000_000;
      const headers = signRequest(coordinatorKey, {
        keyId: COORDINATOR_KEY_ID,
        audience: 'cosigner-a',
        method: 'POST',
        path: '/v1/sign',
        body,
        timestampMs: now,
        nonce: randomBytes(16),
      });
      const req = { method: 'POST', path: '/v1/sign', body, headers };
      const opts = { audience: 'cosigner-a', resolveKey: () => pub, nowMs: now };
      const v = measureSync(() => verifySignedRequest(req, opts), { ms, batch: 50 });
      measurements.push({
        name: 'verify signed request (2 KiB body)',
        opsPerSec: v.opsPerSec,
        p50Us: v.p50Us,
        p99Us: v.p99Us,
      });
      const d = measureSync(() => bodyDigest(body), { ms, batch: 200 });
      measurements.push({ name: '  of which SHA-256 of the body', opsPerSec: d.opsPerSec });
      const s = measureSync(
        () =>
          buildSignHttpRequest(
            { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
            'cosigner-a',
            {
              intent: {},
              requesterSignature: null,
              approvals: [],
              tx: { kind: 'psbt', psbt: 'cHNidP8=' },
            },
            { timestampMs: now, nonce: randomBytes(16) },
          ),
        { ms, batch: 50 },
      );
      measurements.push({ name: 'client: build + sign a request', opsPerSec: s.opsPerSec });

      // Whole pipeline in-process, then /v1/sign one by one vs /v1/sign-batch on a fresh database.
      const backends: [string, OpenDb][] = [
        [
          'PGlite',
          async () => {
            const db = await openPglite();
            return { db, close: () => db.close() };
          },
        ],
      ];
      if (ctx.databaseUrl) {
        const url = ctx.databaseUrl;
        backends.push([
          'PostgreSQL',
          async () => {
            const schema = `bench_cos_${randomBytes(4).toString('hex')}`;
            const db = await openPostgres({ connectionString: url, schema });
            return {
              db,
              close: async () => {
                await db.close();
                await dropSchema(url, schema);
              },
            };
          },
        ]);
      }
      for (const [label, openDb] of backends) {
        try {
          measurements.push(
            await pipelineBench(`POST /v1/sign pipeline, ${label} (memory key)`, openDb, ms * 2),
          );
          const { db, close } = await openDb();
          try {
            const b = await batchVsSingle(label, await benchHarness(db), {
              rounds: ctx.quick ? 2 : 8,
              size: MAX_SIGN_BATCH,
            });
            measurements.push(...b.measurements);
            Object.assign(ratios, b.ratios);
          } finally {
            await close();
          }
        } catch (e) {
          notes.push(`${label} pipeline not measured: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      notes.push(
        'sign vs sign-batch: requests built before timing; CPU = this process (co-signer + PGlite), a PostgreSQL server is not counted',
      );
      notes.push(
        'pipeline ops/s include building the request client-side (requester + 2 approver Ed25519 signatures, request signature) in the same thread',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return { suite: 'cosigner', measurements, ratios, notes };
  },
};

export default suite;
