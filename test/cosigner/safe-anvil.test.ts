import { getAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SafeWallet, safeTxToJson } from '../../src/core/chains/evm/index.ts';
import type { SafeTxFields } from '../../src/core/chains/evm/types.ts';
import { type Intent, intentDigest, parseIntent } from '../../src/core/intent/index.ts';
import { viemChainReader } from '../../src/cosigner/evm-rpc.ts';
import { realChecks } from '../../src/cosigner/real-checks.ts';
import { buildSafeTransfer } from '../../src/evm/build.ts';
import { executeSafeTransaction } from '../../src/evm/execute.ts';
import { CHAIN, startWorld, type World } from '../evm/world.ts';
import { config, firstBundle } from '../governance/fixtures.ts';
import { pgliteBackend } from '../helpers/db.ts';
import {
  admins,
  approvalsFor,
  type Harness,
  harness,
  migrateCosigner,
  principals,
  requester,
  T0,
} from './fixture.ts';

/**
 * Two co-signer pipelines (each its own store and key, each reading the Safe's state from anvil
 * itself) on a real 2-of-3 Safe 1.4.1: their signatures execute the transfer on chain; a
 * DELEGATECALL (Bybit) or a swapped recipient is refused by both.
 */
const DEST = getAddress('0x00000000000000000000000000000000000c0de5');
const backend = pgliteBackend();
let w: World;
let wallet: SafeWallet;
let cosigners: Harness[];

beforeAll(async () => {
  w = await startWorld();
  wallet = await w.newSafe('safe-1', '1.4.1', false);
  const bundle = () =>
    firstBundle(
      admins,
      config(admins, {
        policy: {
          version: 1,
          name: 'cosigner-safe-test',
          assets: { [`${CHAIN}/slip44:60`]: { symbol: 'ETH', decimals: 18 } },
          groups: { treasury: { members: ['alice', 'bob', 'carol'] } },
          rules: [
            {
              name: 'block-unknown',
              when: { destination: { known: false } },
              action: 'block',
              reason: 'book only',
            },
            {
              name: 'approve',
              when: { asset: ['ETH'] },
              action: 'approve',
              approve: { quorum: 2, from: ['treasury'] },
            },
          ],
        },
        principals: principals(),
        addressBook: [
          {
            chain: CHAIN,
            address: DEST,
            label: 'cold',
            category: 'cold-storage',
            status: 'active',
            addedAt: '2026-01-01T00:00:00Z',
            activeFrom: '2026-01-02T00:00:00Z',
          },
        ],
        wallets: [{ id: wallet.id, chain: CHAIN, type: 'safe', config: wallet.config }],
      }),
    );
  cosigners = [];
  for (const signer of w.cosigners) {
    const h = await harness(await migrateCosigner(await backend.open({ migrate: false })), {
      signer,
      bundle,
    });
    h.deps.checks = realChecks({
      evm: viemChainReader({ [CHAIN]: w.anvil.rpcUrl }),
      evmSignerAddress: h.address,
    });
    cosigners.push(h);
  }
}, 180_000);

afterAll(async () => {
  await backend.cleanup();
  await w?.stop();
});

function intentFor(over: Partial<Intent> = {}): Intent {
  return parseIntent({
    ...w.intent({ wallet: wallet.id, destination: DEST, amount: '1500000000000000000' }),
    createdAt: T0,
    expiresAt: '2026-03-02T10:00:00Z',
    ...over,
  });
}

function request(i: Intent, tx: SafeTxFields) {
  return {
    intent: i,
    requesterSignature: requester.sign(intentDigest(i), 'svc-backoffice'),
    approvals: approvalsFor(i),
    tx: { kind: 'safe' as const, safe: wallet.config.address, safeTx: safeTxToJson(tx) },
  };
}

describe('co-signers on a 2-of-3 Safe on anvil', () => {
  it('both co-signers verify against their own RPC and sign; the Safe executes the transfer', async () => {
    const i = intentFor();
    const tx = await buildSafeTransfer(i, wallet, w.anvil.client);
    const results = [];
    for (const h of cosigners) {
      const r = await h.send(request(i, tx));
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      results.push(
        r.json.result as { safeTxHash: `0x${string}`; signer: `0x${string}`; signature: `0x${string}` },
      );
    }
    expect(results[0]!.safeTxHash).toBe(results[1]!.safeTxHash);
    const exec = await executeSafeTransaction(
      { safe: wallet.config.address, fields: tx, safeTxHash: results[0]!.safeTxHash },
      results.map((r) => ({ owner: r.signer, signature: r.signature })),
      w.relayer,
      w.anvil.client,
      { recipient: DEST, amount: 1_500_000_000_000_000_000n },
    );
    expect(exec.balanceAfter! - exec.balanceBefore!).toBe(1_500_000_000_000_000_000n);
  }, 60_000);

  it('attack (Bybit): DELEGATECALL instead of CALL is refused by every co-signer', async () => {
    const i = intentFor();
    const tx = { ...(await buildSafeTransfer(i, wallet, w.anvil.client)), operation: 1 as const };
    for (const h of cosigners) {
      const r = await h.send(request(i, tx));
      expect(r.json).toMatchObject({ ok: false, step: 'chain' });
      expect(JSON.stringify(r.json)).toMatch(/DELEGATECALL/);
    }
  }, 60_000);

  it('attack: recipient swapped in the Safe transaction after approval', async () => {
    const i = intentFor();
    const tx = { ...(await buildSafeTransfer(i, wallet, w.anvil.client)), to: w.backdoor };
    for (const h of cosigners) {
      const r = await h.send(request(i, tx));
      expect(r.json).toMatchObject({ ok: false, step: 'chain' });
    }
  }, 60_000);
});
