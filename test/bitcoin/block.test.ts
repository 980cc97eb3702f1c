import { readFileSync } from 'node:fs';
import { hex } from '@scure/base';
import { Block } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import {
  blockTxid,
  inputOutpoint,
  outputValue,
  parseBlock,
  toHex,
} from '../../src/core/chains/bitcoin/block/parse.ts';
import { scanBlock, unmatchedOutflows, WatchIndex } from '../../src/core/chains/bitcoin/block/watch.ts';
import { VECTORS } from './fixtures.ts';

const BLOCKS = {
  segwit: {
    file: 'mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw',
    hash: '000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae',
    txs: 2500,
  },
  legacy: {
    file: 'block413567.raw',
    hash: '0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069',
    txs: undefined,
  },
};

describe.each(Object.entries(BLOCKS))('raw mainnet block (%s)', (_name, spec) => {
  const raw = new Uint8Array(readFileSync(`${VECTORS}blocks/${spec.file}`));
  const blk = parseBlock(raw);
  const bjs = Block.fromBuffer(raw);

  it('header hash and transaction count', () => {
    expect(blk.header.hash).toBe(spec.hash);
    expect(blk.txCount).toBe(bjs.transactions!.length);
    if (spec.txs) expect(blk.txCount).toBe(spec.txs);
  });

  it('every txid, outpoint, output script and value agrees with bitcoinjs-lib', () => {
    bjs.transactions!.forEach((tx, t) => {
      expect(blockTxid(blk, t)).toBe(tx.getId());
      const i0 = blk.txFirstInput[t]!;
      expect(blk.txFirstInput[t + 1]! - i0).toBe(tx.ins.length);
      tx.ins.forEach((inp, k) => {
        const op = inputOutpoint(blk, i0 + k);
        expect(op.txid).toBe(hex.encode(Uint8Array.from(inp.hash).reverse()));
        expect(op.vout).toBe(inp.index);
      });
      const o0 = blk.txFirstOutput[t]!;
      tx.outs.forEach((o, k) => {
        const off = blk.outScript[o0 + k]!;
        expect(toHex(raw, off, off + blk.outScriptLen[o0 + k]!)).toBe(hex.encode(o.script));
        expect(BigInt(outputValue(blk, o0 + k))).toBe(o.value);
      });
    });
  });

  it('truncated or padded blocks are refused (fail closed)', () => {
    expect(() => parseBlock(raw.subarray(0, raw.length - 1))).toThrow(/BLOCK_INVALID/);
    expect(() => parseBlock(new Uint8Array([...raw.subarray(0, 1000)]))).toThrow(/BLOCK_INVALID/);
    const padded = new Uint8Array(raw.length + 1);
    padded.set(raw);
    expect(() => parseBlock(padded)).toThrow(/BLOCK_INVALID/);
  });
});

describe('watch matching on the segwit mainnet block', () => {
  const raw = new Uint8Array(readFileSync(`${VECTORS}blocks/${BLOCKS.segwit.file}`));
  const blk = parseBlock(raw);
  const bjs = Block.fromBuffer(raw);
  const txs = bjs.transactions!;

  it('flags spends of custody UTXOs not signed by Custos, and records payments to custody scripts', () => {
    // Pretend tx 10's first input and tx 20's second input spend custody coins, and tx 30's
    // first output pays a custody script.
    const coin = (t: number, k: number) => ({
      txid: hex.encode(Uint8Array.from(txs[t]!.ins[k]!.hash).reverse()),
      vout: txs[t]!.ins[k]!.index,
      wallet: 'cold',
      value: 1,
    });
    const idx = new WatchIndex(
      [{ wallet: 'hot', script: txs[30]!.outs[0]!.script }],
      [coin(10, 0), coin(20, Math.min(1, txs[20]!.ins.length - 1))],
    );
    const scan = scanBlock(blk, idx);
    expect(scan.outflows.map((f) => f.txid).sort()).toEqual([txs[10]!.getId(), txs[20]!.getId()].sort());
    expect(scan.created.some((c) => c.txid === txs[30]!.getId() && c.vout === 0 && c.wallet === 'hot')).toBe(
      true,
    );
    // tx 10 was signed through Custos; tx 20 was not.
    const alerts = unmatchedOutflows(
      scan,
      (id) => id === txs[10]!.getId(),
      'bip122:000000000019d6689c085ae165831e93',
      {
        height: 702861,
        hash: blk.header.hash,
      },
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: 'critical',
      code: 'UNMATCHED_OUTFLOW',
      wallet: 'cold',
      txid: txs[20]!.getId(),
      block: { height: 702861, hash: BLOCKS.segwit.hash },
    });
  });

  it('recognizes a multisig spend by its witness script even without the UTXO', () => {
    // Find a P2WSH CHECKMULTISIG input in the block and watch its witness script only.
    let found: { t: number; ws: Uint8Array } | undefined;
    txs.forEach((tx, t) => {
      if (found || t === 0) return;
      for (const inp of tx.ins) {
        const last = inp.witness[inp.witness.length - 1];
        if (inp.witness.length >= 3 && last && last.length >= 37 && last[last.length - 1] === 0xae) {
          found = { t, ws: last };
          return;
        }
      }
    });
    expect(found).toBeDefined();
    const idx = new WatchIndex([
      { wallet: 'ms', script: new Uint8Array([0x00, 0x20, ...new Uint8Array(32)]), witnessScript: found!.ws },
    ]);
    const scan = scanBlock(blk, idx);
    expect(scan.outflows.map((f) => f.txid)).toContain(txs[found!.t]!.getId());
    expect(scan.outflows.find((f) => f.txid === txs[found!.t]!.getId())!.spent[0]!.via).toBe('witness');
  });

  it('a coin created and spent in the same block is followed', () => {
    // Find a tx spending an output created earlier in the same block.
    const ids = new Map(txs.map((tx, t) => [tx.getId(), t]));
    let pair: { parent: number; child: number; vout: number } | undefined;
    txs.forEach((tx, t) => {
      for (const inp of tx.ins) {
        const parent = ids.get(hex.encode(Uint8Array.from(inp.hash).reverse()));
        if (!pair && parent !== undefined && parent < t) pair = { parent, child: t, vout: inp.index };
      }
    });
    expect(pair).toBeDefined();
    const idx = new WatchIndex([{ wallet: 'w', script: txs[pair!.parent]!.outs[pair!.vout]!.script }]);
    const scan = scanBlock(blk, idx);
    expect(scan.outflows.map((f) => f.txid)).toContain(txs[pair!.child]!.getId());
  });
});

describe('merkle root', () => {
  it('both mainnet blocks commit to their transactions; a swapped transaction is detected', async () => {
    const { blockMerkleRootMatches } = await import('../../src/core/chains/bitcoin/block/merkle.ts');
    for (const spec of Object.values(BLOCKS)) {
      const raw = new Uint8Array(readFileSync(`${VECTORS}blocks/${spec.file}`));
      expect(blockMerkleRootMatches(parseBlock(raw))).toBe(true);
      const tampered = raw.slice();
      const blk = parseBlock(raw);
      const off = blk.outValue[blk.outValue.length - 1]!; // the last output's amount
      tampered[off] = tampered[off]! ^ 1;
      expect(blockMerkleRootMatches(parseBlock(tampered))).toBe(false);
    }
  });
});

describe('P2WPKH spends recognized by the public key in the witness', () => {
  it('finds a P2WPKH spend of the mainnet block by its pubkey alone', () => {
    const raw = new Uint8Array(readFileSync(`${VECTORS}blocks/${BLOCKS.segwit.file}`));
    const txs = Block.fromBuffer(raw).transactions!;
    const t = txs.findIndex(
      (tx, k) => k > 0 && tx.ins[0]!.witness.length === 2 && tx.ins[0]!.witness[1]!.length === 33,
    );
    expect(t).toBeGreaterThan(0);
    const pubkey = txs[t]!.ins[0]!.witness[1]!;
    const idx = new WatchIndex([
      { wallet: 'hot', script: new Uint8Array([0x00, 0x14, ...new Uint8Array(20)]), pubkey },
    ]);
    const scan = scanBlock(parseBlock(raw), idx);
    const f = scan.outflows.find((x) => x.txid === txs[t]!.getId());
    expect(f?.spent[0]).toMatchObject({ wallet: 'hot', via: 'witness', input: 0 });
  });
});
