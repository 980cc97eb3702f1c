import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CustosError } from '../core/errors/base.ts';
import type { EcdsaSignature } from './backend.ts';

/**
 * Post-processing shared by backends that get a bare (r, s) from a device (PKCS#11 CKM_ECDSA
 * returns r || s, no recovery id, and HSMs may return a high S).
 */
const N = secp256k1.Point.CURVE().n;

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
