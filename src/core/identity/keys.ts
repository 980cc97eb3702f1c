import { createPublicKey, type KeyObject } from 'node:crypto';
import { base64urlnopad } from '@scure/base';
import { decodeCredentialPublicKey } from '@simplewebauthn/server/helpers';
import { CustosError } from '../errors/base.ts';

/**
 * Credential public keys as node:crypto KeyObjects, built once and cached.
 *
 * node:crypto (OpenSSL) verifies Ed25519 and P-256 15–45× faster than pure JS, but importing a
 * key costs about as much as a verification, so keys are imported once per distinct public key.
 * The cache is keyed by the exact public-key string from the (already validated) configuration
 * and bounded so a flood of distinct keys cannot grow memory without limit.
 */
const MAX_CACHED = 10_000;
const cache = new Map<string, KeyObject>();

function remember(key: string, make: () => KeyObject): KeyObject {
  const hit = cache.get(key);
  if (hit) return hit;
  const value = make();
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(key, value);
  return value;
}

/** Raw 32-byte Ed25519 public key (hex, validated by `ed25519KeyProblem`). */
export function ed25519KeyObject(hex: string): KeyObject {
  return remember(`ed25519:${hex}`, () =>
    createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(hex, 'hex').toString('base64url') },
      format: 'jwk',
    }),
  );
}

export interface P256Coordinates {
  x: Uint8Array;
  y: Uint8Array;
}

/**
 * Decodes a WebAuthn credential public key (COSE_Key, RFC 9053 §7.1.1) and accepts only
 * ES256: kty EC2 (2), alg ES256 (-7), crv P-256 (1), 32-byte x and y. Anything else throws:
 * registration only admits ES256, so another algorithm here means a corrupted configuration.
 */
export function decodeEs256CoseKey(coseB64url: string): P256Coordinates {
  let map: ReturnType<typeof decodeCredentialPublicKey>;
  try {
    map = decodeCredentialPublicKey(new Uint8Array(base64urlnopad.decode(coseB64url)));
  } catch (cause) {
    throw new CustosError('WEBAUTHN_BAD_KEY', 'credential public key is not a COSE key', { cause });
  }
  const m = map as unknown as Map<number, unknown>;
  const x = m.get(-2);
  const y = m.get(-3);
  if (
    m.get(1) !== 2 ||
    m.get(3) !== -7 ||
    m.get(-1) !== 1 ||
    !(x instanceof Uint8Array) ||
    !(y instanceof Uint8Array) ||
    x.length !== 32 ||
    y.length !== 32
  ) {
    throw new CustosError('WEBAUTHN_BAD_KEY', 'credential public key is not an ES256 (P-256) COSE key');
  }
  return { x, y };
}

/** P-256 KeyObject for a COSE ES256 key; OpenSSL refuses coordinates that are not on the curve. */
export function p256KeyObject(coseB64url: string): KeyObject {
  return remember(`p256:${coseB64url}`, () => {
    const { x, y } = decodeEs256CoseKey(coseB64url);
    try {
      return createPublicKey({
        key: {
          kty: 'EC',
          crv: 'P-256',
          x: Buffer.from(x).toString('base64url'),
          y: Buffer.from(y).toString('base64url'),
        },
        format: 'jwk',
      });
    } catch (cause) {
      throw new CustosError('WEBAUTHN_BAD_KEY', 'credential public key is not a P-256 point', { cause });
    }
  });
}
