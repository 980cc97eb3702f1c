import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { CustosError } from '../core/errors/base.ts';
import type { EcdsaSignature, Secp256k1Signer } from './backend.ts';
import { signDigestLowS } from './ecdsa.ts';

/**
 * In-memory signer — a TEST DOUBLE / development backend, not for production keys: the secret
 * lives in the JS heap for the signer's lifetime. Production co-signers use the encrypted
 * keystore (`file`) or PKCS#11 backends. Holds either a raw secp256k1 key or a BIP 32 root.
 */
export function memorySigner(keyId: string, key: Uint8Array | HDKey): Secp256k1Signer {
  const hd = key instanceof HDKey ? key : undefined;
  let raw = key instanceof HDKey ? undefined : key.slice();
  // Derivation of a 6-level path costs several scalar multiplications; derive once per path.
  const children = new Map<string, HDKey>();
  const derive = (path: string): HDKey => {
    let child = children.get(path);
    if (!child) {
      child = hd!.derive(path);
      children.set(path, child);
    }
    return child;
  };
  const priv = (path?: string): Uint8Array => {
    if (hd) {
      const child = path && path !== 'm' ? derive(path) : hd;
      if (!child.privateKey)
        throw new CustosError('KEY_NOT_PRIVATE', 'extended key has no private part', { details: { keyId } });
      return child.privateKey;
    }
    if (path && path !== 'm')
      throw new CustosError('KEY_NOT_DERIVABLE', 'a raw key cannot derive a path', {
        details: { keyId, path },
      });
    if (!raw) throw new CustosError('KEY_CLOSED', 'signer was closed', { details: { keyId } });
    return raw;
  };
  return {
    backend: 'memory',
    keyId,
    async publicKey(path) {
      return secp256k1.getPublicKey(priv(path), true);
    },
    async signDigest(digest, path): Promise<EcdsaSignature> {
      if (digest.length !== 32) throw new CustosError('BAD_DIGEST', 'digest must be 32 bytes');
      // No prehash, RFC 6979, low-S, recovery id (libsecp256k1; rules in ecdsa.ts).
      return signDigestLowS(digest, priv(path));
    },
    async xpub(path) {
      if (!hd) return undefined as unknown as string;
      return (path && path !== 'm' ? derive(path) : hd).publicExtendedKey;
    },
    async close() {
      for (const c of children.values()) c.wipePrivateData();
      children.clear();
      raw?.fill(0);
      raw = undefined;
    },
  };
}
