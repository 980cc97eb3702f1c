import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { CheckpointSigner } from '../core/audit/checkpoint.ts';
import { InvalidInputError } from '../core/errors/base.ts';

/**
 * Checkpoint signer backed by node:crypto Ed25519 (RFC 8032 pure Ed25519; OpenSSL is several times
 * faster than a pure-JS signer, and checkpoints are signed inside the append transaction).
 */
// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410 §7): fixed 16-byte prefix.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function keyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32)
    throw new InvalidInputError('INVALID_KEY', 'secret', 'Ed25519 seed must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function publicKeyHex(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('hex');
}

export function ed25519CheckpointSigner(seed: Uint8Array): CheckpointSigner {
  const key = keyFromSeed(seed);
  const keyId = publicKeyHex(key);
  return {
    keyId,
    sign: (payload) => new Uint8Array(sign(null, payload, key)),
  };
}

/** A fresh Ed25519 key: the 32-byte seed (to keep in a keystore) and the public key hex. */
export function generateEd25519Seed(): { seed: Uint8Array; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = new Uint8Array(der.subarray(PKCS8_ED25519_PREFIX.length));
  return { seed, publicKey: publicKeyHex(privateKey) };
}
