import { readFileSync } from 'node:fs';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { hex } from '@scure/base';
import { Block } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockMerkleRootMatches, merkleRoot } from '../../src/core/chains/bitcoin/block/merkle.ts';
import {
  blockTxid,
  inputOutpoint,
  outputValue,
  parseBlock,
  toHex,
} from '../../src/core/chains/bitcoin/block/parse.ts';
import { sha256d64, sha256ofLatin1Digest } from '../../src/core/chains/bitcoin/block/sha256d.ts';
import { blockTxids } from '../../src/core/chains/bitcoin/block/txid.ts';
import { scanBlock, WatchIndex } from '../../src/core/chains/bitcoin/block/watch.ts';
import { BitcoinInputError } from '../../src/core/chains/bitcoin/errors.ts';
import { VECTORS } from './fixtures.ts';

/**
 * The fast block path (offset parser, all-txids + merkle, allocation-light matcher) against
 * independent implementations: bitcoinjs-lib's block parser, node:crypto's SHA-256, and a
 * reference matcher written over bitcoinjs-lib's transaction objects. Plus the strict-parsing rules
 * Bitcoin Core's deserializer applies (non-canonical CompactSize, segwit flag, superfluous witness)
 * and the CVE-2012-2459 merkle mutation.
 */
const FILES = {
  segwit: 'mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw',
  legacy: 'block413567.raw',
};
const load = (f: string) => new Uint8Array(readFileSync(`${VECTORS}blocks/${f}`));
// An independent implementation (the code under test uses node:crypto).
const sha = (b: Uint8Array) => nobleSha256(b);
const revHex = (b: Uint8Array) => hex.encode(Uint8Array.from(b).reverse());

describe('double SHA-256 steps vs @noble/hashes', () => {
  it('sha256ofLatin1Digest and sha256d64 agree on random inputs', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 96, maxLength: 96 }),
        fc.nat({ max: 32 }),
        fc.nat({ max: 32 }),
        (buf, a, b) => {
          const out = new Uint8Array(40);
          sha256ofLatin1Digest(String.fromCharCode(...buf.subarray(a, a + 32)), out, 3);
          expect(hex.encode(out.subarray(3, 35))).toBe(hex.encode(sha(buf.subarray(a, a + 32))));
          sha256d64(buf, a, buf, b, out, 5);
          const both = new Uint8Array([...buf.subarray(a, a + 32), ...buf.subarray(b, b + 32)]);
          expect(hex.encode(out.subarray(5, 37))).toBe(hex.encode(sha(sha(both))));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe.each(Object.entries(FILES))('differential vs bitcoinjs-lib (%s block)', (_name, file) => {
  const raw = load(file);
  const bjs = Block.fromBuffer(raw);
  const txs = bjs.transactions!;

  it('all txids (block-wide path and single-tx path), prevouts, outputs and witnesses agree', () => {
    const blk = parseBlock(raw);
    const single = txs.map((_, t) => blockTxid(blk, t)); // before blockTxids: hashed one by one
    const all = blockTxids(blk);
    expect(blk.txCount).toBe(txs.length);
    expect(blk.inPrevout.length).toBe(txs.reduce((n, tx) => n + tx.ins.length, 0));
    expect(blk.outValue.length).toBe(txs.reduce((n, tx) => n + tx.outs.length, 0));
    txs.forEach((tx, t) => {
      expect(single[t]).toBe(tx.getId());
      expect(revHex(all.subarray(t * 32, t * 32 + 32))).toBe(tx.getId());
      expect(blockTxid(blk, t)).toBe(tx.getId());
      const i0 = blk.txFirstInput[t]!;
      expect(blk.txFirstInput[t + 1]! - i0).toBe(tx.ins.length);
      tx.ins.forEach((inp, k) => {
        expect(inputOutpoint(blk, i0 + k)).toEqual({ txid: revHex(inp.hash), vout: inp.index });
        expect(blk.inWitItems[i0 + k]).toBe(inp.witness.length);
        const last = inp.witness[inp.witness.length - 1];
        const off = blk.inWitLast[i0 + k]!;
        if (last) expect(toHex(raw, off, off + blk.inWitLastLen[i0 + k]!)).toBe(hex.encode(last));
      });
      const o0 = blk.txFirstOutput[t]!;
      expect(blk.txFirstOutput[t + 1]! - o0).toBe(tx.outs.length);
      tx.outs.forEach((o, k) => {
        const off = blk.outScript[o0 + k]!;
        expect(toHex(raw, off, off + blk.outScriptLen[o0 + k]!)).toBe(hex.encode(o.script));
        expect(BigInt(outputValue(blk, o0 + k))).toBe(o.value);
      });
    });
    expect(blockMerkleRootMatches(blk)).toBe(true);
    expect(merkleRoot(single)).toBe(revHex(bjs.merkleRoot!));
  });

  it('scan finds exactly what a reference matcher over bitcoinjs-lib objects finds', () => {
    // Watch every 7th output script, every 11th prevout as a custody UTXO and every 13th P2WPKH
    // public key; the reference walks the decoded transactions in order with plain Maps.
    const scripts = new Map<string, string>();
    const utxos = new Map<string, string>();
    const pubkeys = new Map<string, string>();
    let n = 0;
    txs.forEach((tx) => {
      for (const o of tx.outs) if (n++ % 7 === 0) scripts.set(hex.encode(o.script), `s${n % 3}`);
      for (const inp of tx.ins) {
        if (n++ % 11 === 0) utxos.set(`${revHex(inp.hash)}:${inp.index}`, `u${n % 3}`);
        const pk = inp.witness[1];
        if (inp.witness.length === 2 && pk?.length === 33 && n % 13 === 0)
          pubkeys.set(hex.encode(pk), `p${n % 3}`);
      }
    });
    const refCreated: string[] = [];
    const refSpent: string[] = [];
    const live = new Map(utxos);
    txs.forEach((tx, t) => {
      const id = tx.getId();
      const spent: string[] = [];
      tx.ins.forEach((inp, k) => {
        const key = `${revHex(inp.hash)}:${inp.index}`;
        const u = live.get(key);
        const pk =
          inp.witness.length === 2 && inp.witness[1]!.length === 33 ? hex.encode(inp.witness[1]!) : '';
        const w = u ?? pubkeys.get(pk);
        if (w) spent.push(`${t}:${id}:${k}:${key}:${w}:${u ? 'utxo' : 'witness'}`);
      });
      tx.outs.forEach((o, k) => {
        const w = scripts.get(hex.encode(o.script));
        if (w) {
          refCreated.push(`${t}:${id}:${k}:${w}:${o.value}`);
          live.set(`${id}:${k}`, w);
        }
      });
      for (const s of spent) {
        const [, , , txid, vout] = s.split(':');
        live.delete(`${txid}:${vout}`);
      }
      refSpent.push(...spent);
    });
    const utxoList = [...utxos].map(([k, wallet]) => {
      const [txid, vout] = k.split(':');
      return { txid: txid!, vout: Number(vout), wallet, value: 0 };
    });
    const entries = [
      ...[...scripts].map(([s, wallet]) => ({ wallet, script: hex.decode(s) })),
      ...[...pubkeys].map(([p, wallet]) => ({
        wallet,
        // A P2WPKH script of another key: only the witness can match this entry.
        script: new Uint8Array([0x00, 0x14, ...new Uint8Array(20).fill(0xee)]),
        pubkey: hex.decode(p),
      })),
    ];
    const shape = (scan: ReturnType<typeof scanBlock>) => ({
      created: scan.created.map((c) => `${c.tx}:${c.txid}:${c.vout}:${c.wallet}:${c.value}`),
      spent: scan.outflows.flatMap((f) =>
        f.spent.map((s) => `${f.tx}:${f.txid}:${s.input}:${s.txid}:${s.vout}:${s.wallet}:${s.via}`),
      ),
    });
    // Lazily hashed (only matched txs) and after the merkle check (all txids reused): same result.
    const lazy = shape(scanBlock(parseBlock(raw), new WatchIndex(entries, utxoList)));
    const pre = parseBlock(raw);
    expect(blockMerkleRootMatches(pre)).toBe(true);
    const eager = shape(scanBlock(pre, new WatchIndex(entries, utxoList)));
    expect(refCreated.length).toBeGreaterThan(50);
    expect(refSpent.length).toBeGreaterThan(50);
    if (file === FILES.segwit)
      expect(refSpent.filter((x) => x.endsWith(':witness')).length).toBeGreaterThan(5);
    expect(lazy.created).toEqual(refCreated);
    expect(lazy.spent).toEqual(refSpent);
    expect(eager).toEqual(lazy);
  });
});

/** A one-transaction block (arbitrary header: parsing does not check it) around `tx`. */
function oneTxBlock(tx: Uint8Array): Uint8Array {
  return new Uint8Array([...new Uint8Array(80), 0x01, ...tx]);
}
const input = [...new Uint8Array(32), 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff];
const output = [0x10, 0x27, 0, 0, 0, 0, 0, 0, 0x01, 0x51];
const version = [0x02, 0, 0, 0];
const locktime = [0, 0, 0, 0];
const invalid = (bytes: Uint8Array, reason: RegExp) => {
  try {
    parseBlock(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(BitcoinInputError);
    expect((e as BitcoinInputError).code).toBe('BLOCK_INVALID');
    expect((e as BitcoinInputError).shortMessage).toMatch(reason);
    return;
  }
  throw new Error('parsed');
};

describe('strict parsing (Bitcoin Core deserializer rules)', () => {
  it('a well-formed legacy and segwit one-transaction block parse', () => {
    expect(
      parseBlock(oneTxBlock(new Uint8Array([...version, 1, ...input, 1, ...output, ...locktime]))).txCount,
    ).toBe(1);
    const sw = parseBlock(
      oneTxBlock(new Uint8Array([...version, 0, 1, 1, ...input, 1, ...output, 1, 1, 0xaa, ...locktime])),
    );
    expect(sw.inWitItems[0]).toBe(1);
    expect(sw.inWitLastLen[0]).toBe(1);
  });

  it('segwit serialization with every witness stack empty is refused (superfluous witness record)', () => {
    invalid(
      oneTxBlock(new Uint8Array([...version, 0, 1, 1, ...input, 1, ...output, 0, ...locktime])),
      /superfluous/,
    );
  });

  it('a segwit flag other than 0x01 is refused', () => {
    invalid(
      oneTxBlock(new Uint8Array([...version, 0, 2, 1, ...input, 1, ...output, 1, 1, 0xaa, ...locktime])),
      /segwit flag/,
    );
    invalid(
      oneTxBlock(new Uint8Array([...version, 0, 0, 1, ...input, 1, ...output, ...locktime])),
      /segwit flag/,
    );
  });

  it('non-canonical CompactSize is refused (transaction count, script length, witness item length)', () => {
    const raw = load(FILES.legacy); // 1557 transactions: count fd 15 06
    expect([raw[80], raw[81], raw[82]]).toEqual([0xfd, 0x15, 0x06]);
    invalid(
      new Uint8Array([...raw.subarray(0, 80), 0xfe, 0x15, 0x06, 0, 0, ...raw.subarray(83)]),
      /non-canonical/,
    );
    // A script length of 1 written as fd 01 00.
    invalid(
      oneTxBlock(
        new Uint8Array([
          ...version,
          1,
          ...input,
          1,
          ...output.slice(0, 8),
          0xfd,
          0x01,
          0x00,
          0x51,
          ...locktime,
        ]),
      ),
      /non-canonical/,
    );
    invalid(
      oneTxBlock(
        new Uint8Array([...version, 0, 1, 1, ...input, 1, ...output, 1, 0xfd, 1, 0, 0xaa, ...locktime]),
      ),
      /non-canonical/,
    );
    // 0xfd with a value ≥ 0xfd is canonical: a 253-byte script parses.
    const script = new Array(253).fill(0x6a);
    const ok = parseBlock(
      oneTxBlock(
        new Uint8Array([
          ...version,
          1,
          ...input,
          1,
          ...output.slice(0, 8),
          0xfd,
          0xfd,
          0x00,
          ...script,
          ...locktime,
        ]),
      ),
    );
    expect(ok.outScriptLen[0]).toBe(253);
  });

  it('truncation anywhere inside the last transaction is refused', () => {
    const raw = load(FILES.segwit);
    const blk = parseBlock(raw);
    const lastStart = blk.txBounds[(blk.txCount - 1) * 4]!;
    for (let cut = lastStart; cut < raw.length; cut += 7)
      invalid(raw.subarray(0, cut), /truncated|trailing|flag|canonical|inputs/);
  });
});

describe('merkle root', () => {
  it('a mutated transaction list with the same root (CVE-2012-2459) is refused', () => {
    const raw = load(FILES.legacy); // odd count: appending a copy of the last tx keeps the root
    const blk = parseBlock(raw);
    const last = raw.subarray(blk.txBounds[(blk.txCount - 1) * 4]!);
    const n = blk.txCount + 1; // 1558 = 0x0616
    const mutated = new Uint8Array([
      ...raw.subarray(0, 80),
      0xfd,
      n & 0xff,
      n >> 8,
      ...raw.subarray(83),
      ...last,
    ]);
    const m = parseBlock(mutated);
    expect(m.header.hash).toBe(blk.header.hash);
    const ids = Array.from({ length: m.txCount }, (_, t) => blockTxid(m, t));
    expect(merkleRoot(ids)).toBe(blk.header.merkleRoot); // the root alone cannot tell them apart
    expect(blockMerkleRootMatches(m)).toBe(false);
    expect(blockMerkleRootMatches(parseBlock(raw))).toBe(true);
  });
});
