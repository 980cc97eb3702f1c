import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { HDKey } from '@scure/bip32';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyDigest } from '../../src/keys/ecdsa.ts';
import { generateFileKey, openFileSigner } from '../../src/keys/file.ts';

const dir = mkdtempSync(join(tmpdir(), 'custos-filekey-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FAST = { N: 1 << 10, r: 8, p: 1 };
const PASS = 'correct horse battery';

// BIP 32 test vector 1 (bip-0032.mediawiki): seed 000102…0f, chain m/0H/1.
const SEED = hexToBytes('000102030405060708090a0b0c0d0e0f');
const V1_M0H1_XPUB =
  'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ';

describe('file keystore backend', () => {
  it('raw key: generates with mode 0600, signs low-S, recovery id recovers the key', async () => {
    const path = join(dir, 'raw.json');
    const k = await generateFileKey({
      path,
      passphrase: PASS,
      label: 'raw-1',
      keyType: 'secp256k1',
      scrypt: FAST,
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).not.toContain('"secret"');
    const signer = await openFileSigner({ path, passphrase: PASS });
    expect(bytesToHex(await signer.publicKey())).toBe(k.publicKey);
    const digest = sha256(new TextEncoder().encode('x'));
    const sig = await signer.signDigest(digest);
    expect(sig.s <= secp256k1.Point.CURVE().n >> 1n).toBe(true);
    expect(verifyDigest(sig, digest, hexToBytes(k.publicKey))).toBe(true);
    const rec = new secp256k1.Signature(sig.r, sig.s).addRecoveryBit(sig.recovery).recoverPublicKey(digest);
    expect(rec.toHex(true)).toBe(k.publicKey);
    await expect(signer.signDigest(digest, 'm/0')).rejects.toThrow(/KEY_NOT_DERIVABLE/);
    await signer.close();
    await expect(signer.signDigest(digest)).rejects.toThrow(/KEY_CLOSED/);
  });

  it('BIP 32 seed: derives at a path (official vector 1 xpub)', async () => {
    const path = join(dir, 'seed.json');
    await generateFileKey({
      path,
      passphrase: PASS,
      label: 'hd-1',
      keyType: 'bip32-seed',
      secret: SEED,
      scrypt: FAST,
    });
    const signer = await openFileSigner({ path, passphrase: PASS });
    expect(await signer.xpub!("m/0'/1")).toBe(V1_M0H1_XPUB);
    const child = HDKey.fromExtendedKey(V1_M0H1_XPUB);
    expect(bytesToHex(await signer.publicKey("m/0'/1"))).toBe(bytesToHex(child.publicKey!));
    const digest = sha256(new TextEncoder().encode('y'));
    const sig = await signer.signDigest(digest, "m/0'/1");
    expect(verifyDigest(sig, digest, child.publicKey!)).toBe(true);
    // Second signature at the path comes from the sealed child-key cache: same key, same RFC 6979 signature.
    expect(await signer.signDigest(digest, "m/0'/1")).toEqual(sig);
    const other = await signer.signDigest(digest, "m/0'/2");
    expect(verifyDigest(other, digest, child.publicKey!)).toBe(false);
    await expect(signer.signDigest(digest, 'm/../0')).rejects.toThrow(/KEY_BAD_PATH/);
    await signer.close();
  });

  it('refuses a wrong passphrase, an altered file and overwriting an existing keystore', async () => {
    const path = join(dir, 'raw2.json');
    await generateFileKey({ path, passphrase: PASS, label: 'raw-2', keyType: 'secp256k1', scrypt: FAST });
    await expect(openFileSigner({ path, passphrase: 'wrong passphrase' })).rejects.toThrow(
      /KEYSTORE_DECRYPT_FAILED/,
    );
    // Swap the clear public key for another: authenticated as GCM AAD, so decryption fails.
    const json = JSON.parse(readFileSync(path, 'utf8'));
    json.publicKey = bytesToHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    const altered = join(dir, 'altered.json');
    writeFileSync(altered, JSON.stringify(json), { mode: 0o600 });
    await expect(openFileSigner({ path: altered, passphrase: PASS })).rejects.toThrow(
      /KEYSTORE_DECRYPT_FAILED/,
    );
    await expect(
      generateFileKey({ path, passphrase: PASS, label: 'raw-3', keyType: 'secp256k1', scrypt: FAST }),
    ).rejects.toThrow(/KEYSTORE_EXISTS/);
  });
});
