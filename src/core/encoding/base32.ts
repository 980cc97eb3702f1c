/**
 * Crockford base32 (https://www.crockford.com/base32.html): digits and upper-case letters
 * without I, L, O and U, so a fingerprint read aloud or retyped cannot be confused.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Encodes the first `bits` bits of `bytes` (a multiple of 5) as Crockford base32. */
export function crockfordBits(bytes: Uint8Array, bits: number): string {
  if (bits % 5 !== 0 || bits > bytes.length * 8)
    throw new RangeError('bits must be a multiple of 5 within the input');
  let out = '';
  for (let i = 0; i < bits; i += 5) {
    let v = 0;
    for (let b = 0; b < 5; b++) {
      const bit = i + b;
      v = (v << 1) | ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1);
    }
    out += ALPHABET[v];
  }
  return out;
}
