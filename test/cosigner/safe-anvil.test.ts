import { getAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SafeWallet, safeTxToJson } from '../../src/core/chains/evm/index.ts';
import type { SafeTxFields } from '../../src/core/chains/evm/types.ts';
import { type Intent, intentDigest, parseIntent } from '../../src/core/intent/index.ts';
import { buildSafeTransfer } from '../../src/evm/build.ts';
import { executeSafeTransaction } from '../../src/evm/execute.ts';
import { startWorld, type World } from '../evm/world.ts';
import { pgliteBackend } from '../helpers/db.ts';
import { approvalsFor, type Harness, requester, T0 } from './fixture.ts';
import { safeCosigners } from './safe-fixture.ts';

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
  cosigners = await safeCosigners({
    backend,
    signers: w.cosigners,
    safes: [wallet],
    rpc: w.anvil.rpcUrl,
    destination: DEST,
    policyName: 'cosigner-safe-test',
  });
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
