import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BitcoinCoreRpc } from '../../src/bitcoin/rpc.ts';
import { type RpcServer, rpcError, startRpcServer } from '../../src/bitcoin/rpc-server.ts';
import { BitcoinChain } from '../../src/coordinator/chains/bitcoin.ts';
import type { Queryable } from '../../src/store/db.ts';

/**
 * BitcoinChain.statusMany: every transaction's depth from ONE JSON-RPC batch request to the
 * wallet endpoint (gettransaction × n), each classified as `status` does. The node side is the
 * shared Core JSON-RPC framing (src/bitcoin/rpc-server.ts, batch arrays answered as Core does:
 * HTTP 200, one reply per call, errors per entry) with wallet transactions at chosen depths.
 */
const AUTH = { username: 'custos', password: 'batch-test' };
const tx = (c: string) => c.repeat(64);
const depths = new Map<string, number>([
  [tx('a'), 3], // confirmed
  [tx('b'), 0], // in the mempool
  [tx('c'), -2], // conflicts with a transaction in the chain: double-spent
]);
const unknown = tx('d'); // not a wallet transaction: RPC error -5

let server: RpcServer;
let chain: BitcoinChain;
const seen = { requests: 0, walletPaths: 0 };
let fault = false;

/** status/statusMany never touch the database; any query here fails the test. */
const noDb = {
  query: () => {
    throw new Error('status must not query the database');
  },
} as unknown as Queryable;

beforeAll(async () => {
  server = await startRpcServer({
    auth: AUTH,
    async intercept(_req, res, path) {
      seen.requests++;
      if (path.startsWith('/wallet/')) seen.walletPaths++;
      if (fault) {
        res.writeHead(500).end('internal error');
        return true;
      }
      return false;
    },
    rpc(call) {
      if (call.method !== 'gettransaction' || call.wallet !== 'custody')
        return rpcError(-32601, 'Method not found');
      const c = depths.get(call.params[0] as string);
      return c === undefined
        ? rpcError(-5, 'Invalid or non-wallet transaction id')
        : { result: { txid: call.params[0], confirmations: c } };
    },
  });
  chain = new BitcoinChain({
    chain: 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328',
    rpc: new BitcoinCoreRpc({ url: server.url, auth: AUTH, wallet: 'custody', timeoutMs: 5_000 }),
    db: noDb,
    wallets: () => [],
  });
});
afterAll(async () => {
  await server?.close();
});

describe('BitcoinChain.statusMany', () => {
  const all = [tx('a'), tx('b'), tx('c'), unknown];

  it('classifies confirmed, mempool, conflicted and unknown transactions in one request', async () => {
    const before = { ...seen };
    const many = await chain.statusMany(all);
    expect(seen.requests - before.requests).toBe(1);
    expect(seen.walletPaths - before.walletPaths).toBe(1);
    expect(all.map((h) => many.get(h))).toEqual(['confirmed', 'pending', 'failed', 'pending']);
  });

  it('agrees with status for every hash', async () => {
    const many = await chain.statusMany(all);
    for (const h of all) expect(many.get(h)).toBe(await chain.status(h));
  });

  it('a failed batch request reads as pending for every hash, as status does', async () => {
    fault = true;
    try {
      const many = await chain.statusMany(all);
      expect(all.map((h) => many.get(h))).toEqual(all.map(() => 'pending'));
      expect(await chain.status(tx('a'))).toBe('pending');
    } finally {
      fault = false;
    }
  });

  it('repeats and an empty list', async () => {
    const before = seen.requests;
    expect((await chain.statusMany([])).size).toBe(0);
    expect(seen.requests).toBe(before);
    const many = await chain.statusMany([tx('a'), tx('a')]);
    expect([...many.entries()]).toEqual([[tx('a'), 'confirmed']]);
  });
});
