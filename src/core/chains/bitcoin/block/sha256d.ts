import { hash } from 'node:crypto';

/**
 * The block scanner's fixed-size double SHA-256 steps — the second round of a txid (32 bytes in)
 * and merkle nodes (64 bytes in) — on node:crypto (OpenSSL). No hash is implemented here: a
 * hand-written SHA-256 compression was ~2× faster on these tiny inputs (native call overhead
 * dominates), but Custos does not carry its own cryptographic primitives; the cost is about
 * 4 ms per 2,500-transaction block on this machine, inside the watchtower's budget.
 */

const pair = Buffer.alloc(64);

/** SHA-256 of a 32-byte digest given as a latin1 string (node:crypto's cheapest digest form). */
export function sha256ofLatin1Digest(d: string, out: Uint8Array, outOff: number): void {
  if (d.length !== 32) throw new RangeError('expected a 32-byte digest');
  out.set(hash('sha256', Buffer.from(d, 'latin1'), 'buffer'), outOff);
}

/**
 * Merkle node: SHA-256d(left[lo..lo+32] ‖ right[ro..ro+32]) written to out[outOff..outOff+32].
 * The inputs are copied first, so `out` may overlap them (the tree is built in place).
 */
export function sha256d64(
  left: Uint8Array,
  lo: number,
  right: Uint8Array,
  ro: number,
  out: Uint8Array,
  outOff: number,
): void {
  pair.set(left.subarray(lo, lo + 32), 0);
  pair.set(right.subarray(ro, ro + 32), 32);
  out.set(hash('sha256', hash('sha256', pair, 'buffer'), 'buffer'), outOff);
}
