import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ok } from '../../src/core/errors/base.ts';
import { type EvmChainReader, viemChainReader } from '../../src/cosigner/evm-rpc.ts';
import { realChecks } from '../../src/cosigner/real-checks.ts';
import { pgliteBackend } from '../helpers/db.ts';
import { batchHarness, item, postSignBatch } from './batch-fixture.ts';

/**
 * TEST DOUBLE of a JSON-RPC node (no chain needed for what is tested here: how many HTTP requests
 * and which calls the co-signer's reader makes). Answers eth_chainId and eth_getTransactionCount.
 */
async function fakeNode() {
  const seen: { batch: boolean; methods: string[] }[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as
      | { id: number; method: string }
      | { id: number; method: string }[];
    const calls = Array.isArray(body) ? body : [body];
    seen.push({ batch: Array.isArray(body), methods: calls.map((c) => c.method) });
    const answer = (c: { id: number; method: string }) => ({
      jsonrpc: '2.0',
      id: c.id,
      result: c.method === 'eth_chainId' ? '0x1' : '0x7',
    });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(Array.isArray(body) ? calls.map(answer) : answer(calls[0]!)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('co-signer chain reads', () => {
  const backend = pgliteBackend();
  afterAll(() => backend.cleanup());

  it('JSON-RPC calls made together travel in one HTTP request; eth_chainId is asked once per client', async () => {
    const node = await fakeNode();
    try {
      const reader = viemChainReader({ 'eip155:1': node.url });
      const a = '0x52908400098527886E0F7030069857D2E4169EE7';
      const [x, y] = await Promise.all([reader.hotState('eip155:1', a), reader.hotState('eip155:1', a)]);
      expect(x).toEqual(ok({ chainId: 1n, nonce: 7n }));
      expect(y).toEqual(x);
      expect(node.seen).toHaveLength(1);
      expect(node.seen[0]!.batch).toBe(true);
      const again = await reader.hotState('eip155:1', a);
      expect(again).toEqual(x);
      expect(node.seen).toHaveLength(2);
      // The second read asked for the nonce again (fresh state) but not for the chain id.
      expect(node.seen[1]!.methods).toEqual(['eth_getTransactionCount']);
      expect(node.seen.flatMap((s) => s.methods).filter((m) => m === 'eth_chainId')).toHaveLength(1);
    } finally {
      await node.close();
    }
  });

  it('a batch reads each wallet’s chain state once; the next request reads it again', async () => {
    const h = await batchHarness(backend);
    let reads = 0;
    const counting: EvmChainReader = {
      hotState: async () => {
        reads++;
        return ok({ chainId: 1n, nonce: 7n });
      },
      safeState: async () => ({ ok: false, code: 'CHAIN_NOT_CONFIGURED', message: 'no Safe here' }),
    };
    h.deps.checks = realChecks({ evm: counting, evmSignerAddress: h.address });
    const send = async (n: number) => {
      const items = [item(n, { nonce: 7 }), item(n + 1, { nonce: 7 }), item(n + 2, { nonce: 8 })];
      const r = await postSignBatch(h, items);
      return (r.json() as { results: { ok: boolean; code?: string }[] }).results.map((x) =>
        x.ok ? 'signed' : x.code,
      );
    };
    // One read for three items of the same wallet: all see nonce 7 (one at one state).
    expect(await send(1)).toEqual(['signed', 'LEDGER_SPEND_CONFLICT', 'NONCE_MISMATCH']);
    expect(reads).toBe(1);
    expect(await send(10)).toEqual(['LEDGER_SPEND_CONFLICT', 'LEDGER_SPEND_CONFLICT', 'NONCE_MISMATCH']);
    expect(reads).toBe(2);
  });
});
