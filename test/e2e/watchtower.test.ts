import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicClient, type Hex, http } from 'viem';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiClient, demoIntent } from '../../src/coordinator/local/client.ts';
import { type LocalDeployment, runLocal } from '../../src/coordinator/local/up.ts';
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
});
