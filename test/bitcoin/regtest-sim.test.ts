import { hex } from '@scure/base';
import { Block } from 'bitcoinjs-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meetsTarget, REGTEST_BITS, REGTEST_GENESIS_HASH } from '../../src/bitcoin/regtest-block.ts';
import { type RegtestSimulator, startRegtestSimulator } from '../../src/bitcoin/regtest-sim-rpc.ts';
import { BitcoinCoreRpc } from '../../src/bitcoin/rpc.ts';
import { BitcoinNodeError } from '../../src/bitcoin/source.ts';
import { walletUtxos } from '../../src/bitcoin/utxos.ts';
import { blockMerkleRootMatches } from '../../src/core/chains/bitcoin/block/merkle.ts';
import { parseBlock } from '../../src/core/chains/bitcoin/block/parse.ts';
import { deriveOutput } from '../../src/core/chains/bitcoin/descriptor/derive.ts';
import { splitMultipath } from '../../src/core/chains/bitcoin/descriptor/multipath.ts';
import { spend } from './chain-builder.ts';
import { REGTEST, wallet } from './fixtures.ts';

/**
 * The local regtest chain simulator behind `custos up` (a test double of Bitcoin Core's RPC, not a
 * node): its blocks are real regtest blocks that our own parser + merkle check and bitcoinjs-lib
 * accept (proof of work, witness commitment, header links); it accepts only transactions whose
 * inputs exist and are unspent and whose outputs do not exceed them; a restart is a new chain.
 */
const w = wallet('sh-wsh');
let sim: RegtestSimulator;
let rpc: BitcoinCoreRpc;

async function rejection(p: Promise<unknown>): Promise<{ rpcCode: unknown; message: string }> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(BitcoinNodeError);
  const err = e as BitcoinNodeError;
  return { rpcCode: err.details?.rpcCode, message: err.shortMessage };
}

beforeAll(async () => {
  sim = await startRegtestSimulator();
  rpc = new BitcoinCoreRpc({ url: sim.url, auth: sim.auth, wallet: 'custody', timeoutMs: 5000 });
  const [r, c] = splitMultipath(w.descriptors.receive);
  await rpc.importDescriptors(r, c, [0, 20]);
});
afterAll(async () => {
  await sim?.close();
});

describe('regtest simulator', () => {
  it('starts at the regtest genesis block (the CAIP-2 id) with a matured faucet coinbase', async () => {
    expect(await rpc.blockHash(0)).toBe(REGTEST_GENESIS_HASH);
    expect(REGTEST).toBe(`bip122:${REGTEST_GENESIS_HASH.slice(0, 32)}`);
    expect(await rpc.tipHeight()).toBe(101);
  });

  it('funds the watched wallet from the faucet; listunspent and gettransaction see it', async () => {
    const to = [0, 1, 2].map((i) => deriveOutput(w, 'receive', i).address);
    const txid = await rpc.call<string>(
      'sendmany',
      ['', { [to[0]!]: 1, [to[1]!]: 0.5, [to[2]!]: 0.25 }],
      true,
    );
    const utxos = await walletUtxos(rpc, w, 20);
    expect(utxos.map((u) => [u.txid, u.index, u.value]).sort()).toEqual(
      [
        [txid, 0, 100_000_000n],
        [txid, 1, 50_000_000n],
        [txid, 2, 25_000_000n],
      ].sort(),
    );
    const conf = await rpc.call<{ confirmations: number }>('gettransaction', [txid, true], true);
    expect(conf.confirmations).toBe(1);
    await rpc.call('generatetoaddress', [2, to[0]]);
    expect((await rpc.call<{ confirmations: number }>('gettransaction', [txid], true)).confirmations).toBe(3);
  });

  it('every block is valid for our parser + merkle check and for bitcoinjs-lib (PoW, witness commitment, links)', async () => {
    const tip = await rpc.tipHeight();
    let prev = '';
    let withWitness = 0;
    for (let h = 0; h <= tip; h++) {
      const hash = await rpc.blockHash(h);
      const raw = await rpc.rawBlock(hash);
      const ours = parseBlock(raw);
      expect(ours.header.hash).toBe(hash);
      expect(blockMerkleRootMatches(ours)).toBe(true);
      expect(meetsTarget(hash, REGTEST_BITS)).toBe(true);
      if (h > 0) expect(ours.header.prevHash).toBe(prev);
      const theirs = Block.fromBuffer(Buffer.from(raw));
      expect(theirs.getId()).toBe(hash);
      expect(theirs.checkTxRoots()).toBe(true);
      expect(theirs.checkProofOfWork()).toBe(true);
      if (theirs.hasWitnessCommit()) withWitness++;
      prev = hash;
    }
    expect(withWitness).toBeGreaterThan(0); // the faucet's P2WPKH spends
  });

  it('accepts a spend of unspent outputs, mines it at once, and refuses to spend them again', async () => {
    const [u] = await walletUtxos(rpc, w, 20);
    const out = { script: deriveOutput(w, 'change', 0).script, amount: u!.value - 1000n };
    const raw = spend([u!], [out]);
    const height = await rpc.tipHeight();
    const txid = await rpc.broadcast(raw);
    expect(await rpc.tipHeight()).toBe(height + 1);
    const blk = parseBlock(await rpc.rawBlock(await rpc.blockHash(height + 1)));
    expect(blk.txCount).toBe(2);
    expect(hex.encode(await rpc.rawTransaction(txid))).toBe(hex.encode(raw));
    // the same transaction again: already in the chain (-27)
    expect((await rejection(rpc.broadcast(raw))).rpcCode).toBe(-27);
    // a different transaction spending the same outpoint: a double spend (-25)
    const again = spend([u!], [{ ...out, amount: out.amount - 1n }]);
    expect(await rejection(rpc.broadcast(again))).toEqual({
      rpcCode: -25,
      message: 'bad-txns-inputs-missingorspent',
    });
    // the same outpoint twice in one transaction
    const [v] = await walletUtxos(rpc, w, 20);
    expect((await rejection(rpc.broadcast(spend([v!, v!], [out])))).message).toBe(
      'bad-txns-inputs-duplicate',
    );
  });

  it('refuses unknown inputs, outputs above inputs, immature coinbase spends and undecodable bytes', async () => {
    const [u] = await walletUtxos(rpc, w, 20);
    const script = deriveOutput(w, 'change', 1).script;
    expect(
      (await rejection(rpc.broadcast(spend([{ txid: 'ab'.repeat(32), vout: 0 }], [{ script, amount: 1n }]))))
        .rpcCode,
    ).toBe(-25);
    expect((await rejection(rpc.broadcast(spend([u!], [{ script, amount: u!.value + 1n }])))).message).toBe(
      'bad-txns-in-belowout',
    );
    const tip = await rpc.tipHeight();
    const cb = parseBlock(await rpc.rawBlock(await rpc.blockHash(tip))).bytes;
    const coinbaseTxid = Block.fromBuffer(Buffer.from(cb)).transactions![0]!.getId();
    expect(
      (await rejection(rpc.broadcast(spend([{ txid: coinbaseTxid, vout: 0 }], [{ script, amount: 1n }]))))
        .message,
    ).toBe('bad-txns-premature-spend-of-coinbase');
    expect((await rejection(rpc.broadcast(new Uint8Array([1, 2, 3])))).rpcCode).toBe(-22);
  });

  it('answers a fixed fee estimate and refuses a single descriptor import', async () => {
    expect(await rpc.estimateFeeRate(6)).toBeCloseTo(2, 9);
    const [r] = splitMultipath(w.descriptors.receive);
    const e = await rejection(
      rpc.call('importdescriptors', [[{ desc: r, internal: false, range: [0, 5] }]], true),
    );
    expect(e.rpcCode).toBe(-8);
  });

  it('a restart keeps nothing: a new simulator is a fresh chain with an empty wallet view', async () => {
    const fresh = await startRegtestSimulator();
    try {
      const r2 = new BitcoinCoreRpc({ url: fresh.url, auth: fresh.auth, timeoutMs: 5000 });
      expect(await r2.tipHeight()).toBe(101);
      expect(await r2.blockHash(0)).toBe(REGTEST_GENESIS_HASH);
      expect(await r2.blockHash(1)).not.toBe(await rpc.blockHash(1));
      expect(await r2.listUnspent(0)).toEqual([]);
      // other credentials are refused (HTTP 401, empty body)
      const bad = new BitcoinCoreRpc({ url: fresh.url, auth: sim.auth, timeoutMs: 5000 });
      await expect(bad.tipHeight()).rejects.toMatchObject({ code: 'NODE_HTTP_ERROR' });
    } finally {
      await fresh.close();
    }
  });
});
