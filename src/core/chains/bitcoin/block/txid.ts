import { hash } from 'node:crypto';
import type { ParsedBlock } from './parse.ts';
import { sha256ofLatin1Digest } from './sha256d.ts';

/**
 * txids of a parsed block: double SHA-256 of each transaction's non-witness serialization
 * (version ‖ inputs ‖ outputs ‖ locktime — BIP 144 leaves the segwit marker, flag and witness out).
 *
 * Measured on the 2,500-tx mainnet block 702861: the first round goes through node:crypto's
 * one-shot `hash` (SHA-NI, ~0.6 ns per byte) with a 'binary' (latin1) string digest (~0.4 µs per
 * call, against ~1 µs for a Buffer digest), the second 32-byte round through node:crypto too
 * (sha256d.ts). @noble/hashes took 3× as long for the first
 * round; hashing small transactions in JS saved under 5%, not worth a second path.
 */

let scratch = new Uint8Array(4096);

function txidInto(blk: ParsedBlock, t: number, out: Uint8Array, outOff: number): void {
  const b = blk.bytes;
  const start = blk.txBounds[t * 4]!;
  const insStart = blk.txBounds[t * 4 + 1]!;
  const outsEnd = blk.txBounds[t * 4 + 2]!;
  const end = blk.txBounds[t * 4 + 3]!;
  let src = b;
  let from = start;
  let to = end;
  if (insStart !== start + 4 || outsEnd !== end - 4) {
    // Segwit serialization: copy version ‖ inputs…outputs ‖ locktime into one contiguous run.
    const n = outsEnd - insStart + 8;
    if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
    const s = scratch;
    for (let k = 0; k < 4; k++) s[k] = b[start + k]!;
    s.set(b.subarray(insStart, outsEnd), 4);
    for (let k = 0; k < 4; k++) s[n - 4 + k] = b[end - 4 + k]!;
    src = s;
    from = 0;
    to = n;
  }
  sha256ofLatin1Digest(hash('sha256', src.subarray(from, to), 'binary'), out, outOff);
}

/** Every txid of the block (32 bytes each, internal byte order), computed once and kept on `blk`. */
export function blockTxids(blk: ParsedBlock): Uint8Array {
  if (blk.txids) return blk.txids;
  const out = new Uint8Array(32 * blk.txCount);
  for (let t = 0; t < blk.txCount; t++) txidInto(blk, t, out, t * 32);
  blk.txids = out;
  return out;
}

const one = new Uint8Array(32);
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * txid (display hex) of transaction `t`: taken from `blockTxids` when the whole block was hashed
 * (the watchtower's merkle check does it first), else computed for this transaction alone — the
 * same function either way.
 */
export function blockTxid(blk: ParsedBlock, t: number): string {
  let src = blk.txids;
  let off = t * 32;
  if (!src) {
    txidInto(blk, t, one, 0);
    src = one;
    off = 0;
  }
  let s = '';
  for (let i = off + 31; i >= off; i--) s += HEX[src[i]!];
  return s;
}
