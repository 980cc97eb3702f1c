import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transaction as BtcTransaction } from 'bitcoinjs-lib';
import { createPublicClient, http } from 'viem';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BitcoinCoreRpc } from '../../src/bitcoin/rpc.ts';
import { HttpCosigner } from '../../src/coordinator/cosigner-client.ts';
import { runAttacks } from '../../src/coordinator/local/attack.ts';
import { ApiClient, demoBitcoinIntent, demoIntent } from '../../src/coordinator/local/client.ts';
import { type LocalDeployment, runLocal } from '../../src/coordinator/local/up.ts';
import { ed25519PrivateKey } from '../../src/core/auth/index.ts';
import { addressToScript } from '../../src/core/chains/bitcoin/address.ts';
import { safeAbi } from '../../src/evm/safe-abi.ts';
import { dropSchema } from '../../src/store/postgres.ts';
import { DATABASE_URL, postgresAvailable } from '../helpers/db.ts';

/**
 * Multi-process end-to-end: anvil, a coordinator (`custos serve`) and two co-signers
 * (`custos cosigner`), each its own OS process, the coordinator on PostgreSQL (PGlite when no
 * server is reachable — announced loudly by postgresAvailable). Withdrawals go through the HTTP
 * API and a real 2-of-3 Safe, and a 2-of-3 P2SH-P2WSH Bitcoin wallet on the regtest chain
 * simulator (src/bitcoin/regtest-sim.ts, a test double of Core's RPC, not a node).
 */
vi.setConfig({ testTimeout: 240_000, hookTimeout: 300_000 });

const usePostgres = await postgresAvailable();
const prefix = `e2e_${randomBytes(4).toString('hex')}`;
const ATTACKER = '0x000000000000000000000000000000000000dEaD';
let dep: LocalDeployment;
let api: ApiClient;
let dir: string;

function cosignerClient(i: number) {
  const s = dep.setup;
  const c = s.cosigners[i]!;
  return new HttpCosigner({
    id: c.id,
    url: c.url,
    key: {
      keyId: s.requestKey.credentialId,
      privateKey: ed25519PrivateKey(Buffer.from(s.requestKey.seed, 'hex')),
    },
  });
}

async function safeNonce(): Promise<bigint> {
  const client = createPublicClient({ transport: http(dep.setup.anvilRpc) });
  return client.readContract({
    address: dep.setup.safe as `0x${string}`,
    abi: safeAbi,
    functionName: 'nonce',
  });
}

async function relayerTxCount(): Promise<number> {
  const client = createPublicClient({ transport: http(dep.setup.anvilRpc) });
  return client.getTransactionCount({ address: dep.setup.relayer as `0x${string}` });
}

async function until(what: string, fn: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'custos-e2e-'));
  dep = await runLocal({
    dir,
    fresh: true,
    ...(usePostgres ? { databaseUrl: DATABASE_URL, schemaPrefix: prefix } : {}),
    scrypt: { N: 1024, r: 8, p: 1 },
    safes: 2,
    env: { CUSTOS_ALLOW_FAULT_INJECTION: '1' },
    coordinatorExtra: {
      worker: { pollMs: 50, visibilityMs: 10_000 },
      faultInjection: {
        pause: { reference: 'crash-after-broadcast', point: 'after-broadcast', ms: 4000 },
        rewriteDestination: { reference: 'tamper-after-approval', to: ATTACKER },
      },
    },
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

describe(`multi-process e2e (coordinator on ${usePostgres ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('a small withdrawal goes end to end over HTTP and executes on the Safe', async () => {
    const before = await safeNonce();
    const intent = demoIntent(dep.setup);
    const r = await api.submit(dep.setup, intent);
    expect(r.status).toBe(201);
    const done = await api.waitFor(intent.id, ['confirmed']);
    expect(done.state).toBe('confirmed');
    expect(done.decision).toMatchObject({ decision: 'allow', rule: 'allow-small-eth' });
    expect((done.transaction as { decoded: unknown }).decoded).toMatchObject({
      kind: 'safe',
      operation: 0,
      call: { kind: 'native-transfer', to: intent.destination, value: intent.amount },
    });
    expect(await safeNonce()).toBe(before + 1n);
  });

  it('--safes 2: safe-2 (same owners, in bundle 1) withdraws too', async () => {
    expect(dep.setup.safes.map((x) => x.id)).toEqual(['safe-1', 'safe-2']);
    const wallets = (await api.get('/v1/wallets')).json.items as { id: string }[];
    expect(wallets.map((w) => w.id).sort()).toEqual(['btc-1', 'safe-1', 'safe-2']);
    const intent = demoIntent(dep.setup, { wallet: 'safe-2', reference: 'second safe' });
    expect((await api.submit(dep.setup, intent)).status).toBe(201);
    expect((await api.waitFor(intent.id, ['confirmed'])).state).toBe('confirmed');
  });

  it('a medium withdrawal waits for an operator, then completes', async () => {
    const intent = demoIntent(dep.setup, { amount: '5000000000000000000', reference: 'needs approval' });
    await api.submit(dep.setup, intent);
    const pending = await api.waitFor(intent.id, ['pending_approval']);
    expect(pending.state).toBe('pending_approval');
    const a = await api.approve(dep.setup.approvers[0]!, intent);
    expect(a.status).toBe(200);
    expect((await api.waitFor(intent.id, ['confirmed'])).state).toBe('confirmed');
  });

  it('the coordinator rewrites the destination after approval: both co-signers refuse, the intent fails, alerts', async () => {
    const before = await safeNonce();
    const refusals = await Promise.all([0, 1].map(async (i) => (await cosignerClient(i).status())!.refusals));
    const intent = demoIntent(dep.setup, { reference: 'tamper-after-approval' });
    await api.submit(dep.setup, intent);
    const failed = await api.waitFor(intent.id, ['failed']);
    expect(failed.state).toBe('failed');
    expect((failed.transaction as { unsigned: { safeTx: { to: string } } }).unsigned.safeTx.to).toBe(
      ATTACKER,
    );
    const sigs = failed.signatures as { cosigner: string; status: string; result: { code: string } }[];
    expect(sigs.map((s) => s.status)).toEqual(['failed', 'failed']);
    const after = await Promise.all([0, 1].map(async (i) => (await cosignerClient(i).status())!.refusals));
    expect(after[0]).toBe(refusals[0]! + 1);
    expect(after[1]).toBe(refusals[1]! + 1);
    const alerts = (await api.get(`/v1/alerts?subject=intent:${intent.id}`)).json.items as {
      code: string;
      details: { cosigner: string };
    }[];
    expect(alerts.map((x) => x.details.cosigner).sort()).toEqual(['cosigner-a', 'cosigner-b']);
    expect(alerts.every((x) => x.code === 'COSIGNER_REFUSED')).toBe(true);
    expect(await safeNonce()).toBe(before);
  });

  it('one co-signer down: the withdrawal waits, completes when it returns, nobody signs twice', async () => {
    const ledger = await Promise.all(
      [0, 1].map(async (i) => (await cosignerClient(i).status())!.ledgerEntries),
    );
    await dep.cosigners[1]!.stop();
    const intent = demoIntent(dep.setup, { reference: 'cosigner down' });
    await api.submit(dep.setup, intent);
    await until('cosigner-a signed', async () => {
      const d = (await api.get(`/v1/intents/${intent.id}`)).json;
      const s = (d.signatures as { cosigner: string; status: string }[] | undefined) ?? [];
      return s.some((x) => x.cosigner === 'cosigner-a' && x.status === 'done');
    });
    await new Promise((r) => setTimeout(r, 2000));
    expect((await api.get(`/v1/intents/${intent.id}`)).json.state).toBe('signing');
    dep.cosigners[1] = await dep.startCosigner(1);
    expect((await api.waitFor(intent.id, ['confirmed'])).state).toBe('confirmed');
    const after = await Promise.all(
      [0, 1].map(async (i) => (await cosignerClient(i).status())!.ledgerEntries),
    );
    expect(after).toEqual([ledger[0]! + 1, ledger[1]! + 1]);
  });

  it('the coordinator is killed right after broadcasting: it resumes and the Safe executes once', async () => {
    const nonce = await safeNonce();
    const relayed = await relayerTxCount();
    const intent = demoIntent(dep.setup, { reference: 'crash-after-broadcast' });
    await api.submit(dep.setup, intent);
    await until(
      'coordinator paused after broadcast',
      async () =>
        readFileSync(dep.coordinator.logFile, 'utf8').includes(intent.id) &&
        readFileSync(dep.coordinator.logFile, 'utf8').includes('fault injection pause'),
    );
    await dep.coordinator.stop('SIGKILL');
    dep.coordinator = await dep.startCoordinator();
    expect((await api.waitFor(intent.id, ['confirmed'])).state).toBe('confirmed');
    expect(await safeNonce()).toBe(nonce + 1n);
    expect(await relayerTxCount()).toBe(relayed + 1);
  });

  it('Bitcoin: a withdrawal from the 2-of-3 regtest wallet goes end to end (PSBT, both co-signers, finalize, broadcast, 1 confirmation)', async () => {
    const b = dep.setup.bitcoin!;
    const rpc = new BitcoinCoreRpc({ url: b.node.url, auth: b.node.auth, wallet: b.node.custodyWallet });
    const intent = demoBitcoinIntent(dep.setup);
    const r = await api.submit(dep.setup, intent);
    expect(r.status).toBe(201);
    const done = await api.waitFor(intent.id, ['confirmed']);
    expect(done.state).toBe('confirmed');
    expect(done.decision).toMatchObject({ decision: 'allow', rule: 'allow-small-btc' });
    const sigs = done.signatures as { cosigner: string; status: string }[];
    expect(sigs.map((x) => x.status)).toEqual(['done', 'done']);
    const txid = (done.broadcast as { txHash: string }).txHash;
    // The mined transaction pays exactly the intent: bitcoinjs-lib reads it from the chain.
    const tx = BtcTransaction.fromBuffer(Buffer.from(await rpc.rawTransaction(txid)));
    expect(tx.getId()).toBe(txid);
    const paid = tx.outs.find((o) =>
      Buffer.from(o.script).equals(Buffer.from(addressToScript(intent.destination, 'regtest'))),
    );
    expect(paid && BigInt(paid.value)).toBe(BigInt(intent.amount));
    expect(tx.ins.every((i) => i.witness.length === 4)).toBe(true); // 0, sig, sig, witnessScript
    const conf = await rpc.call<{ confirmations: number }>('gettransaction', [txid], true);
    expect(conf.confirmations).toBeGreaterThanOrEqual(1);
  });

  it('custos demo attack: every scenario (EVM and Bitcoin PSBT tampering) is refused by both co-signers with its code', async () => {
    const results = await runAttacks(dep.setup);
    const btc = results.filter((r) => r.scenario.startsWith('btc-'));
    expect(btc.map((r) => [r.scenario, r.expect])).toEqual([
      ['btc-destination-swapped', 'DESTINATION_MISMATCH'],
      ['btc-amount-changed', 'AMOUNT_MISMATCH'],
      ['btc-change-redirected', 'CHANGE_NOT_OURS'],
      ['btc-extra-output', 'EXTRA_OUTPUT'],
      ['btc-fee-siphon', 'INPUT_AMOUNT_UNPROVEN'],
      ['btc-sighash-none', 'SIGHASH_NOT_ALL'],
    ]);
    for (const r of results) {
      expect(r.outcomes.map((o) => o.cosigner)).toEqual(['cosigner-a', 'cosigner-b']);
      for (const o of r.outcomes) {
        expect(o.refused, `${r.scenario} ${o.cosigner}`).toBe(true);
        if (r.expect) expect(o.code, `${r.scenario} ${o.cosigner}`).toBe(r.expect);
      }
    }
    expect(results.length).toBe(11);
  });

  it('the watchtower flags none of the withdrawals above (resumed broadcast included)', async () => {
    const client = createPublicClient({ transport: http(dep.setup.anvilRpc) });
    const head = await client.getBlockNumber({ cacheTime: 0 });
    const re = new RegExp(`custos_watchtower_checked_block\\{chain="${dep.setup.chain}"\\} (\\d+)`);
    await until('watchtower checked the head', async () => {
      const m = (await (await fetch(new URL('/metrics', dep.setup.coordinatorUrl))).text()).match(re);
      return m !== null && BigInt(m[1]!) >= head;
    });
    const alerts = (await api.get('/v1/alerts?subject=wallet:safe-1')).json.items as unknown[];
    expect(alerts).toEqual([]);
    // Bitcoin: the watchtower reached the simulator's tip (the withdrawal's block included) quietly.
    const b = dep.setup.bitcoin!;
    const tip = await new BitcoinCoreRpc({ url: b.node.url, auth: b.node.auth }).tipHeight();
    const reBtc = new RegExp(`custos_watchtower_checked_block\\{chain="${b.chain}"\\} (\\d+)`);
    await until('Bitcoin watchtower checked the tip', async () => {
      const m = (await (await fetch(new URL('/metrics', dep.setup.coordinatorUrl))).text()).match(reBtc);
      return m !== null && Number(m[1]) >= tip;
    });
    expect((await api.get('/v1/alerts?subject=wallet:btc-1')).json.items).toEqual([]);
  });
});
