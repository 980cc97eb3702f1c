import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { createPublicClient, createWalletClient, defineChain, type Hex, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiClient, demoIntent } from '../../src/coordinator/local/client.ts';
import { type LocalDeployment, runLocal } from '../../src/coordinator/local/up.ts';
import { computeSafeTxHashes, parseSafeVersion } from '../../src/core/chains/evm/index.ts';
import { readSafeChainState } from '../../src/evm/chain-state.ts';
import { executeSafeTransaction } from '../../src/evm/execute.ts';
import { decryptKeystore, readKeystoreFile } from '../../src/keys/keystore.ts';
import { dropSchema } from '../../src/store/postgres.ts';
import { DATABASE_URL, postgresAvailable } from '../helpers/db.ts';

/**
 * Invariant I7 in the running coordinator: `custos serve` follows anvil with its EVM watchtower.
 * A withdrawal made through Custos raises nothing (its safeTxHash and relayer tx were recorded
 * before broadcast); ETH leaving the Safe in a transaction Custos never signed (anvil
 * impersonation stands in for a stolen key / a bypass of the co-signers) raises one critical
 * UNMATCHED_OUTFLOW alert, visible at GET /v1/alerts, in the audit log and in the metrics.
 */
vi.setConfig({ testTimeout: 240_000, hookTimeout: 300_000 });

const usePostgres = await postgresAvailable();
const prefix = `e2ew_${randomBytes(4).toString('hex')}`;
const THIEF = '0x000000000000000000000000000000000000bEEF';
let dep: LocalDeployment;
let api: ApiClient;
let dir: string;

interface AlertItem {
  severity: string;
  code: string;
  subject: string;
  details: { txHash: string; kind?: string; from?: string; to?: string; value?: string };
}

async function walletAlerts(): Promise<AlertItem[]> {
  return (await api.get('/v1/alerts?subject=wallet:safe-1&limit=200')).json.items as AlertItem[];
}

async function until(what: string, fn: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The co-signers' owner keys as an attacker who stole both keystores and passphrases has them. */
async function leakedOwnerKeys(): Promise<Hex[]> {
  return Promise.all(
    ['cosigner-a', 'cosigner-b'].map(async (id) => {
      const pass = readFileSync(join(dir, id, 'passphrase'), 'utf8').trim();
      const k = await decryptKeystore(readKeystoreFile(join(dir, id, 'key.json')), pass);
      // The keystore holds the co-signer's BIP 32 seed; the Safe owner key is at its EVM path.
      const evmPath = dep.setup.cosigners.find((c) => c.id === id)!.evmPath;
      const owner = HDKey.fromMasterSeed(k.secret).derive(evmPath).privateKey!;
      return `0x${Buffer.from(owner).toString('hex')}` as Hex;
    }),
  );
}

async function metricsText(): Promise<string> {
  return (await fetch(new URL('/metrics', dep.setup.coordinatorUrl))).text();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'custos-e2e-watch-'));
  dep = await runLocal({
    dir,
    fresh: true,
    ...(usePostgres ? { databaseUrl: DATABASE_URL, schemaPrefix: prefix } : {}),
    scrypt: { N: 1024, r: 8, p: 1 },
    coordinatorExtra: { worker: { pollMs: 50, visibilityMs: 10_000 } },
  });
  api = new ApiClient(dep.setup.coordinatorUrl, dep.setup.readToken);
});

afterAll(async () => {
  await dep?.stop();
  if (usePostgres) {
    for (const s of ['coordinator', 'cosigner_a', 'cosigner_b'])
      await dropSchema(DATABASE_URL, `${prefix}_${s}`);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe(`watchtower in custos serve (coordinator on ${usePostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('a withdrawal through Custos raises nothing; ETH sent from the Safe outside Custos raises a critical alert', async () => {
    const client = createPublicClient({ transport: http(dep.setup.anvilRpc) });
    const safe = dep.setup.safe as Hex;

    // 1. A normal withdrawal through Custos, executed on chain by the relayer.
    const intent = demoIntent(dep.setup, { reference: 'watched withdrawal' });
    expect((await api.submit(dep.setup, intent)).status).toBe(201);
    const done = await api.waitFor(intent.id, ['confirmed'], 120_000);
    expect(done.state).toBe('confirmed');
    const custosTx = (done.broadcast as { txHash: string }).txHash;
    expect(custosTx).toMatch(/^0x[0-9a-f]{64}$/);

    // 2. An outflow the coordinator never signed: the Safe itself sends ETH (impersonated).
    await client.request({ method: 'anvil_impersonateAccount' as never, params: [safe] as never });
    const theft = (await client.request({
      method: 'eth_sendTransaction' as never,
      params: [{ from: safe, to: THIEF, value: '0xde0b6b3a7640000' }] as never,
    })) as Hex;
    await client.request({ method: 'anvil_stopImpersonatingAccount' as never, params: [safe] as never });
    const receipt = await client.waitForTransactionReceipt({ hash: theft });
    expect(receipt.status).toBe('success');

    // The watchtower scans blocks in order: once the theft's block is scanned, the withdrawal's
    // (earlier) block has been scanned too, so "exactly one alert" covers both halves.
    await until('watchtower alert for the theft', async () =>
      (await walletAlerts()).some((a) => a.details.txHash === theft),
    );
    const alerts = await walletAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: 'critical',
      code: 'UNMATCHED_OUTFLOW',
      subject: 'wallet:safe-1',
      details: { txHash: theft, kind: 'transaction', value: '1000000000000000000' },
    });
    expect(alerts[0]!.details.to?.toLowerCase()).toBe(THIEF.toLowerCase());
    expect(alerts.some((a) => a.details.txHash === custosTx)).toBe(false);

    // Audit log and metrics carry it too.
    const audit = (await api.get('/v1/audit/entries?limit=1000')).json.items as {
      kind: string;
      body: string;
    }[];
    expect(
      audit
        .filter((e) => e.kind === 'watchtower.alert')
        .map((e) => (JSON.parse(e.body) as { txHash: string }).txHash),
    ).toEqual([theft]);
    const m = await metricsText();
    expect(m).toMatch(
      new RegExp(
        `custos_watchtower_alerts_total\\{chain="${dep.setup.chain}",code="UNMATCHED_OUTFLOW"\\} 1\\b`,
      ),
    );
    expect(m).toMatch(new RegExp(`custos_watchtower_lag_blocks\\{chain="${dep.setup.chain}"\\} \\d+`));
  });

  it('leaked co-signer keys execute a SafeTx outside Custos: critical alert for the unknown safeTxHash', async () => {
    const client = createPublicClient({ transport: http(dep.setup.anvilRpc) });
    const chain = defineChain({
      id: dep.setup.chainId,
      name: 'anvil',
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [dep.setup.anvilRpc] } },
    });
    const pub = createPublicClient({ chain, transport: http(dep.setup.anvilRpc) });
    // the attacker's own account pays the gas (anyone can relay a fully signed SafeTx)
    const attacker = privateKeyToAccount(`0x${randomBytes(32).toString('hex')}`);
    await client.request({
      method: 'anvil_setBalance' as never,
      params: [attacker.address, '0x8ac7230489e80000'] as never,
    });
    const relayer = createWalletClient({ chain, transport: http(dep.setup.anvilRpc), account: attacker });
    const safe = dep.setup.safe as Hex;
    const state = await readSafeChainState(pub, safe);
    const ZERO = '0x0000000000000000000000000000000000000000' as const;
    const fields = {
      to: THIEF as Hex,
      value: 2n * 10n ** 18n,
      data: '0x' as Hex,
      operation: 0 as const,
      safeTxGas: 0n,
      baseGas: 0n,
      gasPrice: 0n,
      gasToken: ZERO,
      refundReceiver: ZERO,
      nonce: state.nonce,
    };
    const safeTxHash = computeSafeTxHashes(
      parseSafeVersion('1.4.1'),
      BigInt(dep.setup.chainId),
      safe,
      fields,
    ).safeTxHash;
    const sigs = await Promise.all(
      (await leakedOwnerKeys()).map(async (k) => ({
        owner: privateKeyToAccount(k).address,
        signature: await privateKeyToAccount(k).sign({ hash: safeTxHash }),
      })),
    );
    const before = (await walletAlerts()).length;
    const exec = await executeSafeTransaction({ safe, fields, safeTxHash }, sigs, relayer, pub);
    await until('watchtower alert for the leaked-key execution', async () =>
      (await walletAlerts()).some((a) => a.details.txHash === exec.txHash),
    );
    const all = await walletAlerts();
    const fresh = all.slice(0, all.length - before);
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(fresh.every((a) => a.severity === 'critical' && a.details.txHash === exec.txHash)).toBe(true);
    expect(fresh.map((a) => a.details.kind)).toContain('safe-execution');
    expect(await client.getBalance({ address: THIEF })).toBe(3n * 10n ** 18n);
  });
});
