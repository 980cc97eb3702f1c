import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { HDKey } from '@scure/bip32';
import { CustosError } from '../core/errors/base.ts';
import type { EcdsaSignature, Secp256k1Signer } from './backend.ts';
import { signDigestLowS } from './ecdsa.ts';
import {
  DEFAULT_SCRYPT,
  decryptKeystore,
  encryptKeystore,
  readKeystoreFile,
  writeKeystoreFile,
} from './keystore.ts';
import { bip86SchnorrSign } from './schnorr.ts';

/**
 * Encrypted-keystore backend. The keystore (scrypt + AES-256-GCM, mode 0600) is decrypted once at
 * open; the plaintext secret is then immediately re-encrypted under a fresh random in-process key
 * and wiped, so between signatures no plaintext key sits in the heap (a heap dump or a swapped-out
 * page shows only ciphertext + a 32-byte wrapping key — obfuscation, not a security boundary, but
 * it narrows the window to the duration of one signature). Each signature decrypts into a fresh
 * buffer, signs, and overwrites it (and the HD key's private data) in `finally`. Child keys derived
 * at a BIP 32 path are kept sealed the same way, so a path is derived once, not per signature.
 *
 * Limit: ECDSA signing runs in libsecp256k1 (WASM), which zeroes its copy of the key, but BIP 32
 * derivation, public keys and Schnorr signing use JavaScript bigint arithmetic that copies the
 * scalar into immutable bigints that cannot be wiped; a hardware backend (PKCS#11) is the answer
 * when that matters.
 *
 * Holds either a raw secp256k1 key (keyType 'secp256k1'; no derivation) or a BIP 32 seed
 * ('bip32-seed'; signs at a derivation path, e.g. "m/48'/0'/0'/2'/0/5").
 */
export interface FileSignerOptions {
  path: string;
  passphrase: string;
}

interface Sealed {
  iv: Buffer;
  tag: Buffer;
  ct: Buffer;
}

function seal(key: Buffer, plain: Uint8Array): Sealed {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return { iv, tag: c.getAuthTag(), ct };
}

function unseal(key: Buffer, s: Sealed): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, s.iv);
  d.setAuthTag(s.tag);
  return Buffer.concat([d.update(s.ct), d.final()]);
}

function checkPath(path: string | undefined): string | undefined {
  if (path === undefined || path === 'm') return undefined;
  if (!/^m(\/[0-9]{1,10}'?)+$/.test(path))
    throw new CustosError('KEY_BAD_PATH', "derivation path must look like m/44'/0'/0/1", {
      details: { path },
    });
  return path;
}

export async function openFileSigner(options: FileSignerOptions): Promise<Secp256k1Signer> {
  const file = readKeystoreFile(options.path);
  if (file.keyType !== 'secp256k1' && file.keyType !== 'bip32-seed')
    throw new CustosError('KEY_WRONG_TYPE', 'keystore does not hold a secp256k1 key or BIP 32 seed', {
      details: { keyType: file.keyType },
    });
  const unlocked = await decryptKeystore(file, options.passphrase);
  let wrapKey: Buffer | undefined = randomBytes(32);
  let sealed: Sealed;
  try {
    if (file.keyType === 'secp256k1') {
      // The clear public key is authenticated (GCM AAD); also check it matches the secret, so a
      // keystore built wrongly is refused at open rather than producing unusable signatures.
      if (bytesToHex(secp256k1.getPublicKey(unlocked.secret, true)) !== file.publicKey)
        throw new CustosError('KEYSTORE_PUBKEY_MISMATCH', 'keystore public key does not match its secret');
    }
    sealed = seal(wrapKey, unlocked.secret);
  } finally {
    unlocked.wipe();
  }
  const keyId = file.label;
  const isHd = file.keyType === 'bip32-seed';

  /**
   * Derived child keys are cached SEALED (under the same in-process wrapping key), so a BIP 32
   * path costs its derivation once, not on every signature; public keys are cached in clear.
   * Bounded: the caches are dropped when they reach MAX_CACHED paths.
   */
  const sealedChildren = new Map<string, Sealed>();
  const publicKeys = new Map<string, Uint8Array>();
  const MAX_CACHED = 4096;

  /** Runs `fn` with the plaintext private key at `path`, wiping every copy we made afterwards. */
  const withKey = <T>(path: string | undefined, fn: (priv: Uint8Array, hd?: HDKey) => T): T => {
    if (!wrapKey) throw new CustosError('KEY_CLOSED', 'signer was closed', { details: { keyId } });
    const p = checkPath(path);
    if (!isHd && p !== undefined)
      throw new CustosError('KEY_NOT_DERIVABLE', 'a raw key cannot derive a path', {
        details: { keyId, path },
      });
    const cached = isHd ? sealedChildren.get(p ?? 'm') : undefined;
    const secret = unseal(wrapKey, cached ?? sealed);
    let root: HDKey | undefined;
    let child: HDKey | undefined;
    try {
      if (!isHd || cached) return fn(secret);
      root = HDKey.fromMasterSeed(secret);
      child = p ? root.derive(p) : root;
      if (!child.privateKey) throw new CustosError('KEY_NOT_PRIVATE', 'derived key has no private part');
      if (sealedChildren.size >= MAX_CACHED) {
        for (const v of sealedChildren.values()) v.ct.fill(0);
        sealedChildren.clear();
      }
      sealedChildren.set(p ?? 'm', seal(wrapKey, child.privateKey));
      return fn(child.privateKey, child);
    } finally {
      secret.fill(0);
      if (child && child !== root) child.wipePrivateData();
      root?.wipePrivateData();
    }
  };

  /** Full HD node at a path (for xpub): always derived from the seed, never from the cache. */
  const withNode = <T>(path: string | undefined, fn: (hd: HDKey) => T): T => {
    if (!wrapKey) throw new CustosError('KEY_CLOSED', 'signer was closed', { details: { keyId } });
    const p = checkPath(path);
    const secret = unseal(wrapKey, sealed);
    const root = HDKey.fromMasterSeed(secret);
    const child = p ? root.derive(p) : root;
    try {
      return fn(child);
    } finally {
      secret.fill(0);
      if (child !== root) child.wipePrivateData();
      root.wipePrivateData();
    }
  };

  return {
    backend: 'file',
    keyId,
    async publicKey(path) {
      const k = path ?? 'm';
      const hit = publicKeys.get(k);
      if (hit) return hit.slice();
      const pub = withKey(path, (priv) => secp256k1.getPublicKey(priv, true));
      if (publicKeys.size >= MAX_CACHED) publicKeys.clear();
      publicKeys.set(k, pub);
      return pub.slice();
    },
    async signDigest(digest, path): Promise<EcdsaSignature> {
      if (digest.length !== 32) throw new CustosError('BAD_DIGEST', 'digest must be 32 bytes');
      // No prehash, RFC 6979, low-S, recovery id (libsecp256k1; rules in ecdsa.ts). `priv` is
      // wiped by withKey after the call; the WASM wrapper zeroes its own copy.
      return withKey(path, (priv) => signDigestLowS(digest, priv));
    },
    async schnorrSign(message, path, tweak) {
      return withKey(path, (priv) => bip86SchnorrSign(priv, message, tweak));
    },
    ...(isHd
      ? {
          async xpub(path?: string) {
            return withNode(path, (hd) => hd.publicExtendedKey);
          },
        }
      : {}),
    async close() {
      wrapKey?.fill(0);
      wrapKey = undefined;
      sealed.ct.fill(0);
      for (const v of sealedChildren.values()) v.ct.fill(0);
      sealedChildren.clear();
    },
  };
}

export interface GenerateFileKeyOptions {
  path: string;
  passphrase: string;
  label: string;
  keyType: 'secp256k1' | 'bip32-seed';
  /** Import this secret instead of generating one (32-byte key or 16–64-byte seed). */
  secret?: Uint8Array;
  scrypt?: { N: number; r: number; p: number };
}

/**
 * Creates a new keystore file (mode 0600, never overwriting) and returns the public side only:
 * the compressed public key (hex) and, for a seed, the root xpub.
 */
export async function generateFileKey(
  o: GenerateFileKeyOptions,
): Promise<{ keyId: string; publicKey: string; xpub?: string }> {
  const secret = o.secret
    ? Uint8Array.from(o.secret)
    : o.keyType === 'secp256k1'
      ? secp256k1.utils.randomSecretKey()
      : new Uint8Array(randomBytes(32));
  try {
    let publicKey: string;
    let xpub: string | undefined;
    if (o.keyType === 'secp256k1') {
      publicKey = bytesToHex(secp256k1.getPublicKey(secret, true));
    } else {
      if (secret.length < 16 || secret.length > 64)
        throw new CustosError('KEY_BAD_SEED', 'BIP 32 seed must be 16 to 64 bytes');
      const root = HDKey.fromMasterSeed(secret);
      publicKey = bytesToHex(root.publicKey!);
      xpub = root.publicExtendedKey;
      root.wipePrivateData();
    }
    const file = await encryptKeystore(
      secret,
      { keyType: o.keyType, label: o.label, publicKey },
      o.passphrase,
      o.scrypt ?? DEFAULT_SCRYPT,
    );
    writeKeystoreFile(o.path, file);
    return xpub ? { keyId: o.label, publicKey, xpub } : { keyId: o.label, publicKey };
  } finally {
    secret.fill(0);
  }
}
