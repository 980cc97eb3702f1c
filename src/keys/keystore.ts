import {
  createCipheriv,
  createDecipheriv,
  randomBytes,
  scrypt as scryptCb,
  timingSafeEqual,
} from 'node:crypto';
import { chmodSync, closeSync, constants as fsc, openSync, readFileSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { CustosError, InvalidInputError } from '../core/errors/base.ts';

/**
 * Encrypted keystore file: one secret key, encrypted with AES-256-GCM under a key derived from a
 * passphrase with scrypt (RFC 7914). Written with mode 0600 and O_EXCL (never overwrites a key).
 * The public key and key type are stored in clear and authenticated as GCM additional data, so a
 * swapped public key or type is detected at unlock.
 *
 * The secret is returned in a Uint8Array the caller must `wipe()` after use; JavaScript cannot
 * guarantee no copy exists elsewhere in the heap, but we never create one ourselves.
 */
export type KeyType = 'ed25519' | 'secp256k1' | 'bip32-seed';

const keystoreSchema = z
  .object({
    custosKeystore: z.literal(1),
    keyType: z.enum(['ed25519', 'secp256k1', 'bip32-seed']),
    label: z.string().max(128),
    publicKey: z.string().regex(/^[0-9a-f]*$/),
    kdf: z
      .object({
        name: z.literal('scrypt'),
        N: z.number().int(),
        r: z.number().int(),
        p: z.number().int(),
        salt: z.string(),
      })
      .strict(),
    cipher: z.object({ name: z.literal('aes-256-gcm'), iv: z.string(), tag: z.string() }).strict(),
    ciphertext: z.string(),
  })
  .strict();

export type KeystoreFile = z.infer<typeof keystoreSchema>;

/** scrypt cost: N=2^17, r=8, p=1 (≈128 MiB, ~0.3 s) for production; tests may pass a lower N. */
export const DEFAULT_SCRYPT = { N: 1 << 17, r: 8, p: 1 } as const;

function deriveKey(
  passphrase: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(
      passphrase.normalize('NFKC'),
      salt,
      32,
      { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

function aad(k: Pick<KeystoreFile, 'keyType' | 'label' | 'publicKey'>): Buffer {
  return Buffer.from(JSON.stringify(['custos-keystore-v1', k.keyType, k.label, k.publicKey]), 'utf8');
}

export async function encryptKeystore(
  secret: Uint8Array,
  meta: { keyType: KeyType; label: string; publicKey: string },
  passphrase: string,
  scryptParams: { N: number; r: number; p: number } = DEFAULT_SCRYPT,
): Promise<KeystoreFile> {
  if (passphrase.length < 8)
    throw new InvalidInputError('WEAK_PASSPHRASE', 'passphrase', 'passphrase must be at least 8 characters');
  const salt = randomBytes(32);
  const iv = randomBytes(12);
  const key = await deriveKey(passphrase, salt, scryptParams);
  try {
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(meta));
    const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()]);
    return {
      custosKeystore: 1,
      keyType: meta.keyType,
      label: meta.label,
      publicKey: meta.publicKey,
      kdf: { name: 'scrypt', ...scryptParams, salt: salt.toString('hex') },
      cipher: { name: 'aes-256-gcm', iv: iv.toString('hex'), tag: cipher.getAuthTag().toString('hex') },
      ciphertext: ciphertext.toString('hex'),
    };
  } finally {
    key.fill(0);
  }
}

export interface UnlockedKey {
  keyType: KeyType;
  label: string;
  publicKey: string;
  secret: Uint8Array;
  /** Overwrites the secret in place. */
  wipe(): void;
}

export async function decryptKeystore(file: KeystoreFile, passphrase: string): Promise<UnlockedKey> {
  const k = keystoreSchema.parse(file);
  if (k.kdf.N > 1 << 20 || k.kdf.r > 16 || k.kdf.p > 4) {
    // A forged file could ask for absurd KDF work (denial of service).
    throw new CustosError('KEYSTORE_KDF_PARAMS', 'keystore scrypt parameters out of range', {
      details: { N: k.kdf.N },
    });
  }
  const key = await deriveKey(passphrase, Buffer.from(k.kdf.salt, 'hex'), k.kdf);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(k.cipher.iv, 'hex'));
    decipher.setAAD(aad(k));
    decipher.setAuthTag(Buffer.from(k.cipher.tag, 'hex'));
    let secret: Buffer;
    try {
      secret = Buffer.concat([decipher.update(Buffer.from(k.ciphertext, 'hex')), decipher.final()]);
    } catch (cause) {
      throw new CustosError('KEYSTORE_DECRYPT_FAILED', 'wrong passphrase or keystore file altered', {
        cause,
      });
    }
    const bytes = new Uint8Array(secret.buffer, secret.byteOffset, secret.length);
    return {
      keyType: k.keyType,
      label: k.label,
      publicKey: k.publicKey,
      secret: bytes,
      wipe: () => bytes.fill(0),
    };
  } finally {
    key.fill(0);
  }
}

/** Writes a keystore with mode 0600, refusing to overwrite an existing file. */
export function writeKeystoreFile(path: string, file: KeystoreFile): void {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  } catch (cause) {
    throw new CustosError('KEYSTORE_EXISTS', 'refusing to overwrite an existing keystore', {
      cause,
      details: { path },
    });
  }
  try {
    writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
}

export function readKeystoreFile(path: string): KeystoreFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new InvalidInputError('KEYSTORE_UNREADABLE', path, 'cannot read keystore file', { cause });
  }
  const r = keystoreSchema.safeParse(raw);
  if (!r.success)
    throw new InvalidInputError(
      'KEYSTORE_INVALID',
      path,
      `not a Custos keystore: ${r.error.issues[0]?.message}`,
    );
  return r.data;
}

/** Passphrase from an env variable name or a file (first line); never from argv. */
export function readPassphrase(source: { env?: string; file?: string }): string {
  if (source.file) return readFileSync(source.file, 'utf8').split('\n')[0]!;
  if (source.env) {
    const v = process.env[source.env];
    if (v) return v;
    throw new InvalidInputError(
      'PASSPHRASE_MISSING',
      source.env,
      'passphrase environment variable is not set',
    );
  }
  throw new InvalidInputError('PASSPHRASE_MISSING', 'passphrase', 'no passphrase source given (env or file)');
}

export { timingSafeEqual };
