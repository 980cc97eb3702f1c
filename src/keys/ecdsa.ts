import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import * as libsecp256k1 from 'tiny-secp256k1';
import { CustosError } from '../core/errors/base.ts';
import type { EcdsaSignature } from './backend.ts';

/**
 * ECDSA helpers shared by the key backends: signing for the software backends (memory, file) and
 * post-processing for backends that get a bare (r, s) from a device (PKCS#11 CKM_ECDSA returns
 * r || s, no recovery id, and HSMs may return a high S).
 */
const N = secp256k1.Point.CURVE().n;
const N_HALF = N >> 1n;

/**
 * ECDSA-signs a 32-byte digest with a raw secp256k1 secret key, for the software backends.
 *
 * Signing runs in libsecp256k1 (Bitcoin Core's library, compiled to WebAssembly, via
 * tiny-secp256k1), ~3× faster than @noble/curves here (docs/keys.md has the numbers). Rules
 * stated, not implied:
 *  - prehash: none — `digest` is already the message hash (sighash, EIP-712 hash, tx hash);
 *  - nonce: RFC 6979 deterministic, no extra entropy (`e` omitted), so the output is
 *    byte-identical to `secp256k1.sign(digest, key, { prehash: false, lowS: true })` in noble
 *    (test/keys/ecdsa.test.ts checks that property on random keys and digests);
 *  - low-S: libsecp256k1 always returns s ≤ n/2 (BIP 62 / BIP 146 LOW_S, EIP-2); re-checked;
 *  - recovery id: the y-parity of R for that low-S signature (Ethereum `yParity`). Ids 2/3
 *    (R.x ≥ n, probability ~2^-127) are refused, as in `recoverySearch`.
 * Inputs are validated here so a bad key or digest is a typed CustosError, never a TypeError from
 * the WASM wrapper. The wrapper copies the key into WASM memory and zeroes it after the call (no
 * bigint copy of the secret is made, unlike the pure-JS path).
 */
export function signDigestLowS(digest: Uint8Array, secretKey: Uint8Array): EcdsaSignature {
  if (!(digest instanceof Uint8Array) || digest.length !== 32)
    throw new CustosError('BAD_DIGEST', 'digest must be 32 bytes', {
      details: { length: (digest as { length?: unknown } | undefined)?.length },
    });
  // isPrivate: 32 bytes and 1 ≤ d ≤ n−1 (SEC 1 §3.2.1); zero or ≥ n is not a key.
  if (!(secretKey instanceof Uint8Array) || !libsecp256k1.isPrivate(secretKey))
    throw new CustosError('KEY_INVALID', 'secret key must be 32 bytes in [1, n-1]');
  let out: libsecp256k1.RecoverableSignature;
  try {
    out = libsecp256k1.signRecoverable(digest, secretKey);
  } catch (e) {
    throw new CustosError('SIGNING_FAILED', 'libsecp256k1 refused to sign', { cause: e });
  }
  const r = bytesToNumberBE(out.signature.subarray(0, 32));
  const s = bytesToNumberBE(out.signature.subarray(32, 64));
  if (out.recoveryId !== 0 && out.recoveryId !== 1)
    throw new CustosError('SIGNATURE_RECOVERY_OVERFLOW', 'R.x is not below n (recovery id 2/3): refused');
  if (r <= 0n || r >= N || s <= 0n || s > N_HALF)
    throw new CustosError('SIGNATURE_OUT_OF_RANGE', 'libsecp256k1 returned r or s outside the low-S range');
  return { r, s, recovery: out.recoveryId };
}

/**
 * Low-S (BIP 62 / BIP 146 LOW_S; EIP-2): s > n/2 is replaced by n - s. Both verify under plain
 * ECDSA, but Bitcoin standardness and Ethereum validity require the low form, and a high-S
 * signature is malleable (a second valid signature for the same transaction).
 */
export function normalizeLowS(r: bigint, s: bigint): { r: bigint; s: bigint } {
  if (r <= 0n || r >= N || s <= 0n || s >= N)
    throw new CustosError('SIGNATURE_OUT_OF_RANGE', 'device returned r or s outside [1, n-1]');
  return { r, s: s > N >> 1n ? N - s : s };
}

/**
 * Recovery id by trial: recover the public key with each y-parity of R and keep the one that
 * matches our key. (x-overflow ids 2/3 have probability ~2^-128 and are refused.) Also proves the
 * device signed with the key we think it did over the digest we gave it.
 */
export function recoverySearch(
  digest: Uint8Array,
  r: bigint,
  s: bigint,
  publicKey: Uint8Array,
): EcdsaSignature {
  const low = normalizeLowS(r, s);
  const expected = secp256k1.Point.fromBytes(publicKey);
  for (const bit of [0, 1] as const) {
    try {
      const q = new secp256k1.Signature(low.r, low.s).addRecoveryBit(bit).recoverPublicKey(digest);
      if (q.equals(expected)) return { r: low.r, s: low.s, recovery: bit };
    } catch {
      /* this parity does not give a point: try the other */
    }
  }
  throw new CustosError('SIGNATURE_KEY_MISMATCH', 'signature does not recover to the expected public key');
}

/** DER encoding (BIP 66 strict DER) of a low-S signature, without the sighash byte. */
export function derSignature(sig: Pick<EcdsaSignature, 'r' | 's'>): Uint8Array {
  return new secp256k1.Signature(sig.r, sig.s).toBytes('der');
}

/** 64-byte compact r || s. */
export function compactSignature(sig: Pick<EcdsaSignature, 'r' | 's'>): Uint8Array {
  return new secp256k1.Signature(sig.r, sig.s).toBytes('compact');
}

/** Checks a signature against a compressed/uncompressed public key (prehash: false, lowS: true). */
export function verifyDigest(sig: EcdsaSignature, digest: Uint8Array, publicKey: Uint8Array): boolean {
  return secp256k1.verify(compactSignature(sig), digest, publicKey, { prehash: false, lowS: true });
}
