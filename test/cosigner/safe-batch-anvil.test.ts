import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignResponse } from '../../src/core/auth/index.ts';
import { type SafeWallet, safeTxToJson } from '../../src/core/chains/evm/index.ts';
import type { SafeTxFields } from '../../src/core/chains/evm/types.ts';
import { type Intent, intentDigest, parseIntent } from '../../src/core/intent/index.ts';
import { buildSafeTransfer } from '../../src/evm/build.ts';
import { executeSafeTransaction } from '../../src/evm/execute.ts';
import { startWorld, type World } from '../evm/world.ts';
import { pgliteBackend } from '../helpers/db.ts';
import { postSignBatch } from './batch-fixture.ts';
import { approvalsFor, type Harness, requester, T0 } from './fixture.ts';
import { safeCosigners } from './safe-fixture.ts';

/**
 * `/v1/sign-batch` on real Safes 1.4.1 on anvil, through a recording proxy in front of the RPC
 * endpoint: two co-signers sign a batch spanning two Safes, each Safe's state is read once per
 * request (one JSON-RPC batch), a second intent on the same Safe nonce is refused, and the
 * signatures execute both transfers on chain.
 */
const DEST = getAddress('0x00000000000000000000000000000000000c0de5');
const backend = pgliteBackend();
let w: World;
let safes: SafeWallet[];
let cosigners: Harness[];
let proxy: Server;
const seen: { to?: string; method: string }[][] = [];

beforeAll(async () => {
  w = await startWorld();
  safes = [await w.newSafe('safe-a', '1.4.1', false), await w.newSafe('safe-b', '1.4.1', false)];
  // Records every HTTP request's JSON-RPC calls and forwards it unchanged to anvil.
  proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const parsed = JSON.parse(body.toString()) as unknown;
    const calls = (Array.isArray(parsed) ? parsed : [parsed]) as {
      method: string;
      params?: [{ to?: string } | string];
    }[];
    seen.push(
      calls.map((c) => {
        const p = c.params?.[0];
        return { method: c.method, to: (typeof p === 'object' ? p.to : p)?.toLowerCase() };
      }),
    );
    const up = await fetch(w.anvil.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    res.writeHead(up.status, { 'content-type': 'application/json' }).end(await up.text());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const rpc = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  cosigners = await safeCosigners({
    backend,
    signers: w.cosigners.slice(0, 2),
    safes: safes,
    rpc: rpc,
    destination: DEST,
    policyName: 'cosigner-safe-batch-test',
  });
}, 180_000);

afterAll(async () => {
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await backend.cleanup();
  await w?.stop();
});

function intentFor(safe: SafeWallet, amount: bigint): Intent {
  return parseIntent({
    ...w.intent({ wallet: safe.id, destination: DEST, amount: amount.toString() }),
    createdAt: T0,
    expiresAt: '2026-03-02T10:00:00Z',
  });
}

function request(i: Intent, safe: SafeWallet, tx: SafeTxFields) {
  return {
    intent: i,
    requesterSignature: requester.sign(intentDigest(i), 'svc-backoffice'),
    approvals: approvalsFor(i),
    tx: { kind: 'safe' as const, safe: safe.config.address, safeTx: safeTxToJson(tx) },
  };
}

describe('co-signer batch on two Safes on anvil', () => {
  it('one state read per Safe per request; same-nonce intent refused; signatures execute on chain', async () => {
    const [a, b] = safes as [SafeWallet, SafeWallet];
    const ia = intentFor(a, 10n ** 18n);
    const ib = intentFor(b, 2n * 10n ** 18n);
    const ia2 = intentFor(a, 3n * 10n ** 18n); // same Safe, same nonce as ia
    const txa = await buildSafeTransfer(ia, a, w.anvil.client);
    const txb = await buildSafeTransfer(ib, b, w.anvil.client);
    const txa2 = await buildSafeTransfer(ia2, a, w.anvil.client);
    const items = [request(ia, a, txa), request(ib, b, txb), request(ia2, a, txa2)];
    const sigs: SignResponse[][] = [];
    for (const h of cosigners) {
      seen.length = 0;
      const r = await postSignBatch(h, items);
      const results = (r.json() as { results: (SignResponse | { ok: false; code: string })[] }).results;
      expect(results.map((x) => (x.ok ? 'signed' : x.code))).toEqual([
        'signed',
        'signed',
        'LEDGER_SPEND_CONFLICT',
      ]);
      sigs.push(results.slice(0, 2) as SignResponse[]);
      // Each Safe's state was read once, not once per item, from storage only (5 fixed words,
      // the owners' and modules' SENTINEL entries, each owner's entry: no getter runs on the
      // node), and every read of a Safe travelled in one HTTP request (JSON-RPC batch).
      for (const s of [a, b]) {
        const addr = s.config.address.toLowerCase();
        const perRequest = seen
          .map((calls) => calls.filter((c) => c.to === addr).length)
          .filter((n) => n > 0);
        expect(perRequest).toEqual([7 + s.config.owners.length]);
      }
      expect(seen.flat().filter((c) => c.method === 'eth_call')).toHaveLength(0);
    }
    for (const [k, safe, tx, amount] of [
      [0, a, txa, 10n ** 18n],
      [1, b, txb, 2n * 10n ** 18n],
    ] as const) {
      const results = sigs.map(
        (s) => s[k]!.result as { safeTxHash: `0x${string}`; signer: `0x${string}`; signature: `0x${string}` },
      );
      const exec = await executeSafeTransaction(
        { safe: safe.config.address, fields: tx, safeTxHash: results[0]!.safeTxHash },
        results.map((r) => ({ owner: r.signer, signature: r.signature })),
        w.relayer,
        w.anvil.client,
        { recipient: DEST, amount },
      );
      expect(exec.balanceAfter! - exec.balanceBefore!).toBe(amount);
    }
  }, 120_000);
});
