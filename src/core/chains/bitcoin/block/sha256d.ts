/**
 * Allocation-free double SHA-256 (FIPS 180-4) for the block scanner's fixed-size hashes: the
 * second round of a txid (32 bytes in) and merkle nodes (64 bytes in). At these sizes a native
 * hash call costs more in call and result overhead (0.4–1 µs) than the compression itself (~0.26 µs
 * here), so a plain JS compression function over a reused message schedule is faster; bulk
 * transaction bytes go to node:crypto (SHA-NI) instead (see txid.ts). Checked against node:crypto
 * on random inputs and against both mainnet blocks' merkle roots in test/bitcoin/block-scan.test.ts.
 */
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const W = new Int32Array(64);
const H = new Int32Array(8);

/**
 * One compression of H with the 16 message words in W[0..15]; the schedule W[16..63] is expanded
 * inside the round loop (one pass over W instead of two: ~10–15% faster here).
 */
function compress(): void {
  let a = H[0]!;
  let b = H[1]!;
  let c = H[2]!;
  let d = H[3]!;
  let e = H[4]!;
  let f = H[5]!;
  let g = H[6]!;
  let h = H[7]!;
  for (let i = 0; i < 64; i++) {
    let w: number;
    if (i < 16) w = W[i]!;
    else {
      const x = W[i - 15]!;
      const y = W[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
      W[i] = w;
    }
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + w) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + b) | 0;
  H[2] = (H[2]! + c) | 0;
  H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0;
  H[5] = (H[5]! + f) | 0;
  H[6] = (H[6]! + g) | 0;
  H[7] = (H[7]! + h) | 0;
}

/** SHA-256 of the 32-byte digest now in H (the second round of a double SHA-256), into out. */
function rehashInto(out: Uint8Array, outOff: number): void {
  for (let i = 0; i < 8; i++) W[i] = H[i]!;
  padOneBlock(256);
  H.set(IV);
  compress();
  writeH(out, outOff);
}

/** Padding of a message of `bits` < 448 bits held in W[0..bits/32-1] (FIPS 180-4 §5.1.1). */
function padOneBlock(bits: number): void {
  W[bits >>> 5] = 0x80000000 | 0;
  for (let i = (bits >>> 5) + 1; i < 15; i++) W[i] = 0;
  W[15] = bits;
}

/**
 * out[outOff..+32] = SHA-256 of the 32-byte digest given as a latin1 string (one char per byte,
 * U+0000–U+00FF): the second round of a txid whose first round came from node:crypto's `hash(…,
 * 'binary')`, which is 2–3× cheaper per call than asking it for a Buffer.
 */
export function sha256ofLatin1Digest(d: string, out: Uint8Array, outOff: number): void {
  if (d.length !== 32) throw new RangeError('expected a 32-byte digest');
  H.set(IV);
  for (let i = 0; i < 8; i++) {
    const o = i * 4;
    W[i] =
      (d.charCodeAt(o) << 24) |
      (d.charCodeAt(o + 1) << 16) |
      (d.charCodeAt(o + 2) << 8) |
      d.charCodeAt(o + 3);
  }
  padOneBlock(256);
  compress();
  writeH(out, outOff);
}

function writeH(out: Uint8Array, outOff: number): void {
  for (let i = 0; i < 8; i++) {
    const v = H[i]!;
    const o = outOff + i * 4;
    out[o] = v >>> 24;
    out[o + 1] = v >>> 16;
    out[o + 2] = v >>> 8;
    out[o + 3] = v;
  }
}

/** out[outOff..+32] = SHA-256(SHA-256(left[lo..lo+32] ‖ right[ro..ro+32])): one merkle node. */
export function sha256d64(
  left: Uint8Array,
  lo: number,
  right: Uint8Array,
  ro: number,
  out: Uint8Array,
  outOff: number,
): void {
  H.set(IV);
  for (let i = 0; i < 8; i++) {
    const o = lo + i * 4;
    W[i] = (left[o]! << 24) | (left[o + 1]! << 16) | (left[o + 2]! << 8) | left[o + 3]!;
  }
  for (let i = 0; i < 8; i++) {
    const o = ro + i * 4;
    W[8 + i] = (right[o]! << 24) | (right[o + 1]! << 16) | (right[o + 2]! << 8) | right[o + 3]!;
  }
  compress();
  // Second block: padding only (0x80, zeros, the 512-bit length).
  W[0] = 0x80000000 | 0;
  for (let i = 1; i < 15; i++) W[i] = 0;
  W[15] = 512;
  compress();
  rehashInto(out, outOff);
}
