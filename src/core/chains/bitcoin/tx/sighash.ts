import { hash } from 'node:crypto';

/**
 * BIP 143 signature hash (segwit v0), with hashPrevouts / hashSequence / hashOutputs computed once
 * per transaction (BIP 143's own motivation: no quadratic hashing). Checked against the BIP 143
 * examples and against @scure/btc-signer and bitcoinjs-lib in tests.
 *
 * Speed (the co-signer hashes one preimage per input it signs): the preimage is written into one
 * pre-sized buffer, and both SHA-256 rounds go through node:crypto's one-shot `hash` (FIPS 180-4,
 * native); @noble/hashes over a byte-array builder was ~30% of the co-signer's non-ECDSA signing
 * time for 10 inputs.
 */
export interface SighashTx {
  version: number;
  inputs: readonly { prevHash: Uint8Array; vout: number; sequence: number }[];
  outputs: readonly { amount: bigint; script: Uint8Array }[];
  locktime: number;
}

const ZERO32 = new Uint8Array(32);
const sha256d = (b: Uint8Array): Uint8Array =>
  Uint8Array.from(hash('sha256', hash('sha256', b, 'buffer'), 'buffer'));

const compactSize = (n: number) => (n < 0xfd ? 1 : n <= 0xffff ? 3 : 5);

/** Little-endian writer over a buffer sized up front (sizes come from the fields themselves). */
class Buf {
  readonly a: Uint8Array;
  private readonly dv: DataView;
  private o = 0;
  constructor(size: number) {
    this.a = new Uint8Array(size);
    this.dv = new DataView(this.a.buffer);
  }
  u32(n: number) {
    this.dv.setUint32(this.o, n >>> 0, true);
    this.o += 4;
  }
  u64(n: bigint) {
    this.dv.setBigUint64(this.o, BigInt.asUintN(64, n), true);
    this.o += 8;
  }
  compact(n: number) {
    if (n < 0xfd) this.a[this.o++] = n;
    else if (n <= 0xffff) {
      this.a[this.o++] = 0xfd;
      this.dv.setUint16(this.o, n, true);
      this.o += 2;
    } else {
      this.a[this.o++] = 0xfe;
      this.u32(n);
    }
  }
  bytes(b: Uint8Array) {
    this.a.set(b, this.o);
    this.o += b.length;
  }
  done(): Uint8Array {
    if (this.o !== this.a.length) throw new RangeError(`sighash buffer: wrote ${this.o} of ${this.a.length}`);
    return this.a;
  }
}

interface Cache {
  prevouts: Uint8Array;
  sequences: Uint8Array;
  outputs: Uint8Array;
}
const caches = new WeakMap<SighashTx, Cache>();

function outputBytes(b: Buf, o: { amount: bigint; script: Uint8Array }) {
  b.u64(o.amount);
  b.compact(o.script.length);
  b.bytes(o.script);
}

const outputSize = (o: { script: Uint8Array }) => 8 + compactSize(o.script.length) + o.script.length;

function cached(tx: SighashTx): Cache {
  let c = caches.get(tx);
  if (!c) {
    const p = new Buf(36 * tx.inputs.length);
    const s = new Buf(4 * tx.inputs.length);
    for (const i of tx.inputs) {
      p.bytes(i.prevHash);
      p.u32(i.vout);
      s.u32(i.sequence);
    }
    const o = new Buf(tx.outputs.reduce((n, out) => n + outputSize(out), 0));
    for (const out of tx.outputs) outputBytes(o, out);
    c = { prevouts: sha256d(p.done()), sequences: sha256d(s.done()), outputs: sha256d(o.done()) };
    caches.set(tx, c);
  }
  return c;
}

export function bip143Sighash(
  tx: SighashTx,
  index: number,
  scriptCode: Uint8Array,
  amount: bigint,
  hashType: number,
): Uint8Array {
  const input = tx.inputs[index];
  if (!input) throw new RangeError(`no input ${index}`);
  const c = cached(tx);
  const anyoneCanPay = (hashType & 0x80) !== 0;
  const base = hashType & 0x1f;
  // version ‖ hashPrevouts ‖ hashSequence ‖ outpoint ‖ scriptCode ‖ amount ‖ nSequence ‖
  // hashOutputs ‖ nLockTime ‖ nHashType (BIP 143 items 1–10).
  const b = new Buf(
    4 + 32 + 32 + 36 + compactSize(scriptCode.length) + scriptCode.length + 8 + 4 + 32 + 4 + 4,
  );
  b.u32(tx.version);
  b.bytes(anyoneCanPay ? ZERO32 : c.prevouts);
  b.bytes(anyoneCanPay || base === 2 || base === 3 ? ZERO32 : c.sequences);
  b.bytes(input.prevHash);
  b.u32(input.vout);
  b.compact(scriptCode.length);
  b.bytes(scriptCode);
  b.u64(amount);
  b.u32(input.sequence);
  if (base !== 2 && base !== 3) b.bytes(c.outputs);
  else if (base === 3 && index < tx.outputs.length) {
    const o = new Buf(outputSize(tx.outputs[index]!));
    outputBytes(o, tx.outputs[index]!);
    b.bytes(sha256d(o.done()));
  } else b.bytes(ZERO32);
  b.u32(tx.locktime);
  b.u32(hashType);
  return sha256d(b.done());
}
