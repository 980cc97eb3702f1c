import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';

const HEX32 = /^[0-9a-f]{64}$/;

/**
 * Checks an Ed25519 public key before it is ever trusted (RFC 8032 §5.1.3 decoding, strict):
 *  - exactly 32 bytes, lower-case hex (one spelling per key);
 *  - a canonical encoding of a curve point (y < p; `zip215 = false` refuses the non-canonical ones);
 *  - not of small order: with a small-order A, a signature (R, S) can be valid for many messages
 *    at once (the "key substitution"/"malleable key" class), so such keys are refused outright.
 * Returns the reason for refusal, or undefined when the key is acceptable.
 */
export function ed25519KeyProblem(hex: string): string | undefined {
  if (!HEX32.test(hex)) return 'must be 32 bytes as 64 lower-case hex characters';
  let point: ReturnType<typeof ed25519.Point.fromBytes>;
  try {
    point = ed25519.Point.fromBytes(hexToBytes(hex), false);
  } catch {
    return 'is not a canonical Ed25519 point encoding';
  }
  if (point.isSmallOrder()) return 'is a small-order point';
  return undefined;
}
