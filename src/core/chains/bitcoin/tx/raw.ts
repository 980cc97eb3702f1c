import { hash } from 'node:crypto';
import { BitcoinInputError } from '../errors.ts';

/**
 * Minimal strict reader of a serialized transaction (legacy or segwit serialization) for the fields
 * Custos checks: outpoints, sequences, outputs, locktime, and the txid (double SHA-256 of the
 * non-witness serialization, computed here so a previous transaction is bound to its outpoint).
 */
export interface TxIn {
  /** Previous txid in serialization (internal) byte order. */
  prevHash: Uint8Array;
  vout: number;
  sequence: number;
  scriptSig: Uint8Array;
}
export interface TxOut {
  amount: bigint;
  script: Uint8Array;
}
export interface RawTxView {
  version: number;
  inputs: TxIn[];
  outputs: TxOut[];
  locktime: number;
  segwit: boolean;
  /** Display (byte-reversed) hex txid. */
  txid: string;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
export function reversedHex(b: Uint8Array): string {
  let s = '';
  for (let i = b.length - 1; i >= 0; i--) s += HEX[b[i]!];
  return s;
}

export class ByteReader {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    readonly code = 'TX_INVALID',
  ) {}
  get left(): number {
    return this.b.length - this.pos;
  }
  fail(message: string): never {
    throw new BitcoinInputError(this.code, message, { details: { offset: this.pos } });
  }
  bytes(n: number): Uint8Array {
    if (n > this.left) this.fail('unexpected end of data');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(): number {
    if (this.left < 1) this.fail('unexpected end of data');
    return this.b[this.pos++]!;
  }
  u32(): number {
    const x = this.bytes(4);
    return (x[0]! | (x[1]! << 8) | (x[2]! << 16) | (x[3]! << 24)) >>> 0;
  }
  u64(): bigint {
    const lo = BigInt(this.u32());
    const hi = BigInt(this.u32());
    return (hi << 32n) | lo;
  }
  /** CompactSize, minimal encoding required. */
  compact(): number {
    const f = this.u8();
    if (f < 0xfd) return f;
    if (f === 0xfd) {
      const x = this.bytes(2);
      const n = x[0]! | (x[1]! << 8);
      if (n < 0xfd) this.fail('non-minimal compact size');
      return n;
    }
    if (f === 0xfe) {
      const n = this.u32();
      if (n <= 0xffff) this.fail('non-minimal compact size');
      return n;
    }
    this.fail('64-bit compact size');
  }
}

/** Double SHA-256 through node:crypto's one-shot hash (native; ~3× @noble/hashes at tx sizes). */
function sha256d(b: Uint8Array): Uint8Array {
  return hash('sha256', hash('sha256', b, 'buffer'), 'buffer');
}

const compactSize = (n: number) => (n < 0xfd ? 1 : n <= 0xffff ? 3 : 5);

export function parseRawTx(raw: Uint8Array, allowWitness = true): RawTxView {
  const r = new ByteReader(raw);
  const version = r.u32() | 0;
  let segwit = false;
  if (raw[r.pos] === 0x00 && raw[r.pos + 1] === 0x01 && allowWitness) {
    segwit = true;
    r.pos += 2;
  }
  const bodyStart = r.pos;
  const nIn = r.compact();
  const inputs: TxIn[] = [];
  for (let i = 0; i < nIn; i++) {
    const prevHash = r.bytes(32);
    const vout = r.u32();
    const scriptSig = r.bytes(r.compact());
    inputs.push({ prevHash, vout, sequence: r.u32(), scriptSig });
  }
  const nOut = r.compact();
  const outputs: TxOut[] = [];
  for (let i = 0; i < nOut; i++) {
    const amount = r.u64();
    outputs.push({ amount, script: r.bytes(r.compact()) });
  }
  const bodyEnd = r.pos;
  if (segwit) for (let i = 0; i < nIn; i++) for (let k = r.compact(); k > 0; k--) r.bytes(r.compact());
  const locktime = r.u32();
  if (r.left !== 0) r.fail('trailing bytes after the transaction');
  // txid = SHA256d(version ‖ inputs ‖ outputs ‖ locktime): BIP 144 leaves marker, flag and
  // witnesses out. Without witness data that is the whole serialization, hashed in place.
  let body = raw;
  if (segwit) {
    body = new Uint8Array(4 + (bodyEnd - bodyStart) + 4);
    body.set(raw.subarray(0, 4));
    body.set(raw.subarray(bodyStart, bodyEnd), 4);
    body.set(raw.subarray(raw.length - 4), body.length - 4);
  }
  return { version, inputs, outputs, locktime, segwit, txid: reversedHex(sha256d(body)) };
}

/** txid of the unsigned transaction described by version, outpoints, sequences, outputs, locktime. */
export function skeletonTxid(tx: {
  version: number;
  inputs: readonly { prevHash: Uint8Array; vout: number; sequence: number }[];
  outputs: readonly { amount: bigint; script: Uint8Array }[];
  locktime: number;
}): string {
  let size = 4 + compactSize(tx.inputs.length) + 41 * tx.inputs.length + compactSize(tx.outputs.length) + 4;
  for (const o of tx.outputs) size += 8 + compactSize(o.script.length) + o.script.length;
  const a = new Uint8Array(size);
  const dv = new DataView(a.buffer);
  let off = 0;
  const u32 = (n: number) => {
    dv.setUint32(off, n >>> 0, true);
    off += 4;
  };
  const compact = (n: number) => {
    if (n < 0xfd) a[off++] = n;
    else if (n <= 0xffff) {
      a[off++] = 0xfd;
      dv.setUint16(off, n, true);
      off += 2;
    } else {
      a[off++] = 0xfe;
      u32(n);
    }
  };
  u32(tx.version);
  compact(tx.inputs.length);
  for (const i of tx.inputs) {
    a.set(i.prevHash, off);
    off += 32;
    u32(i.vout);
    a[off++] = 0; // empty scriptSig
    u32(i.sequence);
  }
  compact(tx.outputs.length);
  for (const o of tx.outputs) {
    dv.setBigUint64(off, BigInt.asUintN(64, o.amount), true);
    off += 8;
    compact(o.script.length);
    a.set(o.script, off);
    off += o.script.length;
  }
  u32(tx.locktime);
  if (off !== size) throw new RangeError(`skeleton tx: wrote ${off} of ${size} bytes`);
  return reversedHex(sha256d(a));
}
