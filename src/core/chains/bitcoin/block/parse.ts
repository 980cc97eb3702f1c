import { sha256 } from '@noble/hashes/sha2.js';
import { BitcoinInputError } from '../errors.ts';

/**
 * Fast raw-block parser for the watchtower (segwit and legacy serialization). It walks the bytes
 * once and records offsets only — no per-script allocation, no hashing — so a 1.4 MB block with
 * thousands of transactions is indexed in a few milliseconds; txids are computed on demand, only
 * for the transactions a watch matched. Every length is bounds-checked: a truncated or padded
 * block is refused (fail closed), never half-read.
 */
export interface BlockHeader {
  version: number;
  prevHash: string;
  merkleRoot: string;
  time: number;
  bits: number;
  nonce: number;
  /** Block hash, display (byte-reversed) hex. */
  hash: string;
}

export interface ParsedBlock {
  bytes: Uint8Array;
  header: BlockHeader;
  txCount: number;
  /** Per tx: [start, inputsStart, outputsEnd, end] (inputsStart skips the segwit marker/flag). */
  txBounds: Uint32Array;
  /** Per tx: index of its first input / output in the flat arrays below; one extra entry at the end. */
  txFirstInput: Uint32Array;
  txFirstOutput: Uint32Array;
  /** Per input: offset of the 36-byte prevout; per input: offset of its witness stack (0 if none). */
  inPrevout: Uint32Array;
  inWitness: Uint32Array;
  /** Per output: offset of the 8-byte value, offset and length of the script. */
  outValue: Uint32Array;
  outScript: Uint32Array;
  outScriptLen: Uint32Array;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(b: Uint8Array, start = 0, end = b.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += HEX[b[i]!];
  return s;
}

export function toHexReversed(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = end - 1; i >= start; i--) s += HEX[b[i]!];
  return s;
}

function bad(message: string, at: number): never {
  throw new BitcoinInputError('BLOCK_INVALID', message, { details: { offset: at } });
}

class Grow {
  a: Uint32Array;
  n = 0;
  constructor(cap: number) {
    this.a = new Uint32Array(cap);
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): Uint32Array {
    return this.a.subarray(0, this.n);
  }
}

export function parseBlock(bytes: Uint8Array): ParsedBlock {
  const len = bytes.length;
  if (len < 81) bad('block shorter than a header', 0);
  const b = bytes;
  let p = 80;
  const varint = (): number => {
    if (p >= len) bad('truncated', p);
    const f = b[p]!;
    if (f < 0xfd) {
      p += 1;
      return f;
    }
    if (f === 0xfd) {
      if (p + 3 > len) bad('truncated', p);
      const v = b[p + 1]! | (b[p + 2]! << 8);
      p += 3;
      return v;
    }
    if (f === 0xfe) {
      if (p + 5 > len) bad('truncated', p);
      const v = (b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24)) >>> 0;
      p += 5;
      return v;
    }
    bad('64-bit size in a block', p);
  };
  const skip = (n: number) => {
    p += n;
    if (p > len) bad('truncated', p);
  };
  const txCount = varint();
  if (txCount === 0 || txCount > len / 60) bad('implausible transaction count', 80);
  const txBounds = new Uint32Array(txCount * 4);
  const txFirstInput = new Uint32Array(txCount + 1);
  const txFirstOutput = new Uint32Array(txCount + 1);
  const inPrevout = new Grow(txCount * 3);
  const inWitness = new Grow(txCount * 3);
  const outValue = new Grow(txCount * 3);
  const outScript = new Grow(txCount * 3);
  const outScriptLen = new Grow(txCount * 3);
  for (let t = 0; t < txCount; t++) {
    const start = p;
    skip(4);
    let segwit = false;
    if (b[p] === 0x00) {
      if (b[p + 1] !== 0x01) bad('bad segwit flag', p);
      segwit = true;
      skip(2);
    }
    const insStart = p;
    const nIn = varint();
    if (nIn === 0) bad('transaction without inputs', p);
    const firstIn = inPrevout.n;
    txFirstInput[t] = firstIn;
    for (let i = 0; i < nIn; i++) {
      inPrevout.push(p);
      inWitness.push(0);
      skip(36);
      skip(varint());
      skip(4);
    }
    const nOut = varint();
    txFirstOutput[t] = outValue.n;
    for (let i = 0; i < nOut; i++) {
      outValue.push(p);
      skip(8);
      const sl = varint();
      outScript.push(p);
      outScriptLen.push(sl);
      skip(sl);
    }
    const outsEnd = p;
    if (segwit) {
      for (let i = 0; i < nIn; i++) {
        inWitness.a[firstIn + i] = p;
        const items = varint();
        for (let k = 0; k < items; k++) skip(varint());
      }
    }
    skip(4);
    txBounds[t * 4] = start;
    txBounds[t * 4 + 1] = insStart;
    txBounds[t * 4 + 2] = outsEnd;
    txBounds[t * 4 + 3] = p;
  }
  if (p !== len) bad('trailing bytes after the last transaction', p);
  txFirstInput[txCount] = inPrevout.n;
  txFirstOutput[txCount] = outValue.n;
  const dv = new DataView(b.buffer, b.byteOffset, 80);
  return {
    bytes: b,
    header: {
      version: dv.getInt32(0, true),
      prevHash: toHexReversed(b, 4, 36),
      merkleRoot: toHexReversed(b, 36, 68),
      time: dv.getUint32(68, true),
      bits: dv.getUint32(72, true),
      nonce: dv.getUint32(76, true),
      hash: toHexReversed(sha256(sha256(b.subarray(0, 80))), 0, 32),
    },
    txCount,
    txBounds,
    txFirstInput,
    txFirstOutput,
    inPrevout: inPrevout.done(),
    inWitness: inWitness.done(),
    outValue: outValue.done(),
    outScript: outScript.done(),
    outScriptLen: outScriptLen.done(),
  };
}

/** txid (display hex) of transaction `t`: double SHA-256 of its non-witness serialization. */
export function blockTxid(blk: ParsedBlock, t: number): string {
  const b = blk.bytes;
  const [start, insStart, outsEnd, end] = [
    blk.txBounds[t * 4]!,
    blk.txBounds[t * 4 + 1]!,
    blk.txBounds[t * 4 + 2]!,
    blk.txBounds[t * 4 + 3]!,
  ];
  const h = sha256.create();
  h.update(b.subarray(start, start + 4));
  h.update(b.subarray(insStart, outsEnd));
  h.update(b.subarray(end - 4, end));
  return toHexReversed(sha256(h.digest()), 0, 32);
}

/** Output value in satoshis (fits a double: at most 21e14 < 2^53). */
export function outputValue(blk: ParsedBlock, o: number): number {
  const off = blk.outValue[o]!;
  const b = blk.bytes;
  const lo = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
  const hi = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24)) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

/** Prevout of input `i` as "txid:vout" (display txid). */
export function inputOutpoint(blk: ParsedBlock, i: number): { txid: string; vout: number } {
  const off = blk.inPrevout[i]!;
  const b = blk.bytes;
  return {
    txid: toHexReversed(b, off, off + 32),
    vout: (b[off + 32]! | (b[off + 33]! << 8) | (b[off + 34]! << 16) | (b[off + 35]! << 24)) >>> 0,
  };
}
