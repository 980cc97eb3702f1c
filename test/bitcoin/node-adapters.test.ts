import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EsploraClient } from '../../src/bitcoin/esplora.ts';
import { BitcoinCoreRpc, btcToSat } from '../../src/bitcoin/rpc.ts';
import type { BitcoinChainSource } from '../../src/bitcoin/source.ts';
import { NODE_DOUBLE_AUTH, type NodeDouble, startNodeDouble } from '../helpers/bitcoin-node-double.ts';
import { block } from './chain-builder.ts';
import { multisigDescriptor } from './fixtures.ts';

/**
 * Both node adapters against the local HTTP TEST DOUBLE (test/helpers/bitcoin-node-double.ts):
 * documented request/response shapes, and fail-closed behaviour on time-outs, bad credentials,
 * HTTP errors, garbage and stalled bodies.
 */
let node: NodeDouble;
const b0 = block('00'.repeat(32), 0, []);
const b1 = block(b0.hash, 1, []);

beforeAll(async () => {
  node = await startNodeDouble({ blocks: [b0, b1] });
  node.state.txs.set(b1.txids[0]!, new Uint8Array([1, 2, 3]));
});
afterAll(() => node.close());
beforeEach(() => {
  node.state.delayMs = 0;
  node.state.fault = undefined;
  node.state.feerateBtcKvb = 0.0002;
});

const rpc = (timeoutMs = 2000) =>
  new BitcoinCoreRpc({ url: node.url, auth: NODE_DOUBLE_AUTH, wallet: 'custos-watch', timeoutMs });
const esplora = (timeoutMs = 2000) => new EsploraClient({ baseUrl: node.url, timeoutMs });

describe.each([
  ['Bitcoin Core JSON-RPC', () => rpc() as BitcoinChainSource],
  ['Esplora REST', () => esplora() as BitcoinChainSource],
])('%s adapter', (_name, make) => {
  it('tip, block hash, raw block, raw transaction, broadcast', async () => {
    const s = make();
    expect(await s.tipHeight()).toBe(1);
    expect(await s.blockHash(1)).toBe(b1.hash);
    expect(Buffer.from(await s.rawBlock(b1.hash)).equals(Buffer.from(b1.raw))).toBe(true);
    expect([...(await s.rawTransaction(b1.txids[0]!))]).toEqual([1, 2, 3]);
    expect(await s.broadcast(new Uint8Array([0xde, 0xad]))).toMatch(/^[0-9a-f]{64}$/);
    expect(node.state.broadcast.at(-1)).toBe('dead');
  });

  it('fee estimate in sat/vB', async () => {
    const rate = await make().estimateFeeRate(3);
    expect(rate).toBeGreaterThan(0);
  });

  it('a slow node fails closed with NODE_TIMEOUT', async () => {
    node.state.delayMs = 400;
    const s = _name.startsWith('Bitcoin') ? rpc(100) : esplora(100);
    await expect(s.tipHeight()).rejects.toMatchObject({ code: 'NODE_TIMEOUT' });
  });

  it('a node that stalls mid-body fails closed with NODE_TIMEOUT', async () => {
    node.state.fault = 'stall-body';
    const s = _name.startsWith('Bitcoin') ? rpc(150) : esplora(150);
    await expect(s.blockHash(1)).rejects.toMatchObject({ code: 'NODE_TIMEOUT' });
  });

  it('HTTP 500 fails closed', async () => {
    node.state.fault = 'http500';
    await expect(make().tipHeight()).rejects.toMatchObject({ code: 'NODE_HTTP_ERROR' });
  });

  it('unknown block: an error, not an empty answer', async () => {
    await expect(make().blockHash(99)).rejects.toMatchObject({
      code: expect.stringMatching(/NODE_(RPC|HTTP)_ERROR/),
    });
  });

  it('an unreachable node fails closed', async () => {
    const s = _name.startsWith('Bitcoin')
      ? new BitcoinCoreRpc({ url: 'http://127.0.0.1:1', auth: NODE_DOUBLE_AUTH, timeoutMs: 500 })
      : new EsploraClient({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 });
    await expect(s.tipHeight()).rejects.toMatchObject({ code: 'NODE_UNREACHABLE' });
  });
});

describe('Bitcoin Core specifics', () => {
  it('bad credentials: HTTP 401 with an empty body is NODE_HTTP_ERROR', async () => {
    const s = new BitcoinCoreRpc({ url: node.url, auth: { username: 'x', password: 'y' } });
    await expect(s.tipHeight()).rejects.toMatchObject({ code: 'NODE_HTTP_ERROR' });
  });
  it('garbage result is NODE_BAD_RESPONSE', async () => {
    node.state.fault = 'garbage';
    await expect(rpc().rawBlock(b1.hash)).rejects.toMatchObject({ code: 'NODE_BAD_RESPONSE' });
  });
  it('no fee estimate: refuses instead of guessing', async () => {
    node.state.feerateBtcKvb = undefined;
    await expect(rpc().estimateFeeRate(6)).rejects.toMatchObject({ code: 'NODE_BAD_RESPONSE' });
    node.state.feerateBtcKvb = 0.00012;
    expect(await rpc().estimateFeeRate(6)).toBeCloseTo(12, 6);
  });
  it('importdescriptors splits a multipath descriptor into receive and change, watch-only', async () => {
    const d = multisigDescriptor('wsh');
    await rpc().importDescriptors(d, d, [0, 999]);
    const imported = node.state.imported.slice(-2) as { desc: string; internal: boolean; range: number[] }[];
    expect(imported.map((x) => x.internal)).toEqual([false, true]);
    expect(imported[0]!.desc).toMatch(/\/0\/\*.*#[a-z0-9]{8}$/);
    expect(imported[1]!.desc).toMatch(/\/1\/\*.*#[a-z0-9]{8}$/);
    expect(node.requests.some((r) => r.path === '/wallet/custos-watch')).toBe(true);
  });
  it('listunspent amounts are converted to satoshis exactly', async () => {
    node.state.utxos = [
      {
        txid: 'ab'.repeat(32),
        vout: 1,
        amountBtc: 0.1,
        scriptPubKey: '0014' + '11'.repeat(20),
        address: 'bcrt1q',
        confirmations: 3,
      },
      {
        txid: 'cd'.repeat(32),
        vout: 0,
        amountBtc: 20999999.9769,
        scriptPubKey: '0014' + '22'.repeat(20),
        address: 'bcrt1q',
        confirmations: 1,
      },
    ];
    const u = await rpc().listUnspent();
    expect(u.map((x) => x.value)).toEqual([10_000_000n, 2_099_999_997_690_000n]);
    expect(() => btcToSat(0.000000001)).toThrow(/NODE_BAD_RESPONSE/);
    expect(() => btcToSat(-1)).toThrow(/NODE_BAD_RESPONSE/);
  });
});

describe('Esplora specifics', () => {
  it('address UTXOs', async () => {
    node.state.utxos = [
      {
        txid: 'ab'.repeat(32),
        vout: 1,
        amountBtc: 0.5,
        scriptPubKey: '',
        address: 'bcrt1qxyz',
        confirmations: 1,
      },
    ];
    const u = await esplora().addressUtxos('bcrt1qxyz');
    expect(u).toEqual([expect.objectContaining({ txid: 'ab'.repeat(32), vout: 1, value: 50_000_000n })]);
  });
  it('fee estimate takes the nearest target at or above the one asked', async () => {
    expect(await esplora().estimateFeeRate(2)).toBe(12.1);
    await expect(esplora().estimateFeeRate(1000)).rejects.toMatchObject({ code: 'NODE_BAD_RESPONSE' });
  });
});

describe('coordinator: wallet UTXOs from the node, then a PSBT', () => {
  it('maps node UTXOs to derivation paths, fetches previous txs, builds a PSBT co-signers accept', async () => {
    const { walletUtxos } = await import('../../src/bitcoin/utxos.ts');
    const { buildPsbt } = await import('../../src/core/chains/bitcoin/build.ts');
    const { verifyPsbt } = await import('../../src/core/chains/bitcoin/verify.ts');
    const { deriveOutput } = await import('../../src/core/chains/bitcoin/descriptor/derive.ts');
    const { fund, intent, wallet } = await import('./fixtures.ts');
    const w = wallet('wsh');
    const a = fund(w, 120_000_000n, 3);
    const b = fund(w, 90_000_000n, 1, 'change');
    node.state.txs.set(a.txid, a.prevTx);
    node.state.txs.set(b.txid, b.prevTx);
    const script = (u: typeof a) => Buffer.from(deriveOutput(w, u.branch, u.index).script).toString('hex');
    node.state.utxos = [
      { txid: a.txid, vout: 1, amountBtc: 1.2, scriptPubKey: script(a), address: 'x', confirmations: 2 },
      { txid: b.txid, vout: 1, amountBtc: 0.9, scriptPubKey: script(b), address: 'y', confirmations: 2 },
      {
        txid: 'ee'.repeat(32),
        vout: 0,
        amountBtc: 5,
        scriptPubKey: '0014' + '33'.repeat(20),
        address: 'z',
        confirmations: 2,
      },
    ];
    const utxos = await walletUtxos(rpc(), w, 20);
    expect(utxos.map((u) => [u.branch, u.index])).toEqual([
      ['receive', 3],
      ['change', 1],
    ]);
    const built = buildPsbt(intent(), w, utxos, 5, 2);
    expect(verifyPsbt(intent(), built.psbt, w, () => undefined, { feeRateCeilingSatVb: 20 }).ok).toBe(true);
  });
});
