import { sha256 } from '@noble/hashes/sha2.js';
import { BitcoinInputError } from '../errors.ts';

/**
 * Fast raw-block parser for the watchtower (segwit and legacy serialization). It walks the bytes
 * once and records offsets only — no per-transaction, per-input or per-output objects, no copies,
 * no hashing — so a 1.4 MB block with thousands of transactions is indexed in about a millisecond;
 * txids are computed separately (txid.ts: all of them for the merkle check, or only those a watch
 * matched). Every length is bounds-checked: a truncated or padded block is refused (fail closed),
 * never half-read; so are encodings Bitcoin Core's deserializer refuses (non-canonical CompactSize,
 * unknown segwit flags, a witness record with no witness in it).
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
  /** Per input: offset of the 36-byte prevout. */
  inPrevout: Uint32Array;
  /** Per input: number of witness items (0 without witness), offset and length of the last item. */
  inWitItems: Uint32Array;
  inWitLast: Uint32Array;
  inWitLastLen: Uint32Array;
  /** Per output: offset of the 8-byte value, offset and length of the script. */
  outValue: Uint32Array;
  outScript: Uint32Array;
  outScriptLen: Uint32Array;
  /** 32 bytes per tx, internal byte order, once computed by `blockTxids` (txid.ts). */
  txids: Uint8Array | undefined;
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

/** Read position over the block; `varint` and `skip` bound-check against the block's length. */
class Cursor {
  p = 80;
  constructor(
    readonly b: Uint8Array,
    readonly len: number,
  ) {}

  /**
   * CompactSize. Bitcoin Core's ReadCompactSize refuses non-canonical encodings ("non-canonical
   * ReadCompactSize()"): a value that fits a shorter form must use it, otherwise two byte strings
   * would decode to one transaction. 64-bit sizes cannot occur inside a block (MAX_SIZE is 2^25).
   */
  varint(): number {
    const b = this.b;
    const p = this.p;
    if (p >= this.len) bad('truncated', p);
    const f = b[p]!;
    if (f < 0xfd) {
      this.p = p + 1;
      return f;
    }
    if (f === 0xfd) {
      if (p + 3 > this.len) bad('truncated', p);
      const v = b[p + 1]! | (b[p + 2]! << 8);
      if (v < 0xfd) bad('non-canonical CompactSize', p);
      this.p = p + 3;
      return v;
    }
    if (f === 0xfe) {
      if (p + 5 > this.len) bad('truncated', p);
      const v = (b[p + 1]! | (b[p + 2]! << 8) | (b[p + 3]! << 16) | (b[p + 4]! << 24)) >>> 0;
      if (v <= 0xffff) bad('non-canonical CompactSize', p);
      this.p = p + 5;
      return v;
    }
    return bad('64-bit size in a block', p);
  }

  skip(n: number): void {
    this.p += n;
    if (this.p > this.len) bad('truncated', this.p);
  }
}

function grow(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

export function parseBlock(bytes: Uint8Array): ParsedBlock {
  const len = bytes.length;
  if (len < 81) bad('block shorter than a header', 0);
  const b = bytes;
  const c = new Cursor(b, len);
  const txCount = c.varint();
  if (txCount === 0 || txCount > len / 60) bad('implausible transaction count', 80);
  const txBounds = new Uint32Array(txCount * 4);
  const txFirstInput = new Uint32Array(txCount + 1);
  const txFirstOutput = new Uint32Array(txCount + 1);
  // Flat per-input / per-output arrays, doubled when a block has more than the guess.
  let inCap = txCount * 3;
  let inPrevout = new Uint32Array(inCap);
  let inWitItems = new Uint32Array(inCap);
  let inWitLast = new Uint32Array(inCap);
  let inWitLastLen = new Uint32Array(inCap);
  let outCap = txCount * 3;
  let outValue = new Uint32Array(outCap);
  let outScript = new Uint32Array(outCap);
  let outScriptLen = new Uint32Array(outCap);
  let nIns = 0;
  let nOuts = 0;
  for (let t = 0; t < txCount; t++) {
    const start = c.p;
    c.skip(4);
    let segwit = false;
    if (b[c.p] === 0x00) {
      // BIP 144: marker 0x00, then flag; Core refuses any flag other than 0x01 ("Unknown
      // transaction optional data"); a 0x00 flag would mean a transaction without inputs.
      if (b[c.p + 1] !== 0x01) bad('bad segwit flag', c.p);
      segwit = true;
      c.skip(2);
    }
    const insStart = c.p;
    const nIn = c.varint();
    if (nIn === 0) bad('transaction without inputs', c.p);
    const firstIn = nIns;
    txFirstInput[t] = firstIn;
    for (let i = 0; i < nIn; i++) {
      if (nIns === inCap) {
        inCap *= 2;
        inPrevout = grow(inPrevout);
        inWitItems = grow(inWitItems);
        inWitLast = grow(inWitLast);
        inWitLastLen = grow(inWitLastLen);
      }
      inPrevout[nIns] = c.p;
      inWitItems[nIns] = 0;
      inWitLast[nIns] = 0;
      inWitLastLen[nIns] = 0;
      nIns++;
      c.skip(36);
      c.skip(c.varint());
      c.skip(4);
    }
    const nOut = c.varint();
    txFirstOutput[t] = nOuts;
    for (let i = 0; i < nOut; i++) {
      if (nOuts === outCap) {
        outCap *= 2;
        outValue = grow(outValue);
        outScript = grow(outScript);
        outScriptLen = grow(outScriptLen);
      }
      outValue[nOuts] = c.p;
      c.skip(8);
      const sl = c.varint();
      outScript[nOuts] = c.p;
      outScriptLen[nOuts] = sl;
      nOuts++;
      c.skip(sl);
    }
    const outsEnd = c.p;
    if (segwit) {
      let anyWitness = false;
      for (let i = 0; i < nIn; i++) {
        const items = c.varint();
        inWitItems[firstIn + i] = items;
        if (items > 0) anyWitness = true;
        for (let k = 0; k < items; k++) {
          const l = c.varint();
          if (k === items - 1) {
            inWitLast[firstIn + i] = c.p;
            inWitLastLen[firstIn + i] = l;
          }
          c.skip(l);
        }
      }
      // Core: "Superfluous witness record" — the segwit serialization with every stack empty is
      // a second encoding of the same (non-witness) transaction.
      if (!anyWitness) bad('superfluous witness record', outsEnd);
    }
    c.skip(4);
    txBounds[t * 4] = start;
    txBounds[t * 4 + 1] = insStart;
    txBounds[t * 4 + 2] = outsEnd;
    txBounds[t * 4 + 3] = c.p;
  }
  if (c.p !== len) bad('trailing bytes after the last transaction', c.p);
  txFirstInput[txCount] = nIns;
  txFirstOutput[txCount] = nOuts;
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
    inPrevout: inPrevout.subarray(0, nIns),
    inWitItems: inWitItems.subarray(0, nIns),
    inWitLast: inWitLast.subarray(0, nIns),
    inWitLastLen: inWitLastLen.subarray(0, nIns),
    outValue: outValue.subarray(0, nOuts),
    outScript: outScript.subarray(0, nOuts),
    outScriptLen: outScriptLen.subarray(0, nOuts),
    txids: undefined,
  };
}

export { blockTxid } from './txid.ts';

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
