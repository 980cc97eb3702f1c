import { randomBytes } from 'node:crypto';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { tagSchnorr } from '@scure/btc-signer/utils.js';
import { CustosError } from '../core/errors/base.ts';

const N = secp256k1.Point.CURVE().n;
const toBig = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
const to32 = (n: bigint) => Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));

/**
 * BIP 340 signature for a BIP 341 key-path spend with NO script tree (BIP 86): the backend is
 * given t = hash_TapTweak(x-only P) and signs with d' = (even_y(P) ? d : n − d) + t mod n.
 *
 * Only that tweak is accepted. A tweak committing to a script tree (hash_TapTweak(P ‖ root)) would
 * sign for an output key that also has script paths the co-signer never reviewed — refused.
 * Aux randomness is fresh per signature (BIP 340 "default signing" recommendation).
 */
export function bip86SchnorrSign(
  priv: Uint8Array,
  message: Uint8Array,
  tweak: Uint8Array | undefined,
): Uint8Array {
  const point = secp256k1.Point.fromBytes(secp256k1.getPublicKey(priv, true));
  const xOnly = point.toBytes(true).subarray(1);
  if (tweak?.length !== 32 || !equalBytes(tweak, tagSchnorr('TapTweak', xOnly)))
    throw new CustosError(
      'KEY_TWEAK_UNSUPPORTED',
      'only the BIP 86 key-path tweak (no script tree) is signed',
    );
  const d = toBig(priv);
  const t = toBig(tweak);
  if (t >= N) throw new CustosError('KEY_TWEAK_INVALID', 'tweak is not below the curve order');
  const even = (point.toBytes(true)[0] ?? 0) === 0x02;
  const tweaked = ((even ? d : N - d) + t) % N;
  if (tweaked === 0n) throw new CustosError('KEY_TWEAK_INVALID', 'tweaked key is zero');
  const dt = to32(tweaked);
  try {
    return schnorr.sign(message, dt, randomBytes(32));
  } finally {
    dt.fill(0);
  }
}
