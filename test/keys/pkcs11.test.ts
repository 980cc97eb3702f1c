import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import pkcs11js from 'pkcs11js';
import { recoverAddress } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { afterAll, describe, expect, it } from 'vitest';
import { compactSignature, derSignature, verifyDigest } from '../../src/keys/ecdsa.ts';
import {
  findObject,
  generatePkcs11Key,
  openPkcs11Session,
  openPkcs11Signer,
  SECP256K1_EC_PARAMS,
} from '../../src/keys/pkcs11.ts';
import { freshToken, softhsmAvailable } from '../helpers/softhsm.ts';

const available = softhsmAvailable();

describe.runIf(available)('PKCS#11 backend on SoftHSM', () => {
  const token = available ? freshToken('custos-keys') : undefined!;
  afterAll(() => token.cleanup());

  it('generates secp256k1 inside the token and prints only the public key', () => {
    const k = generatePkcs11Key({ ...token, keyLabel: 'cosigner-a' });
    expect(k.keyId).toBe('cosigner-a');
    expect(k.publicKey).toMatch(/^0[23][0-9a-f]{64}$/);
    // A second key under the same label is refused (which one would sign?).
    expect(() => generatePkcs11Key({ ...token, keyLabel: 'cosigner-a' })).toThrow(/PKCS11_KEY_EXISTS/);
  });

  it('the private key cannot be extracted: reading CKA_VALUE fails, flags are set', () => {
    const s = openPkcs11Session(token);
    try {
      const priv = findObject(s, pkcs11js.CKO_PRIVATE_KEY, 'cosigner-a')!;
      expect(priv).toBeDefined();
      expect(() => s.mod.C_GetAttributeValue(s.session, priv, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
      const [sens, extr] = s.mod.C_GetAttributeValue(s.session, priv, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
      ]);
      expect((sens!.value as Buffer)[0]).toBe(1);
      expect((extr!.value as Buffer)[0]).toBe(0);
    } finally {
      s.close();
    }
  });

  it('signs low-S with a correct recovery id: verifies with noble, recovers the Ethereum address', async () => {
    const signer = openPkcs11Signer({ ...token, keyLabel: 'cosigner-a' });
    try {
      const pub = await signer.publicKey();
      const address = publicKeyToAddress(`0x${bytesToHex(secp256k1.Point.fromBytes(pub).toBytes(false))}`);
      const half = secp256k1.Point.CURVE().n >> 1n;
      const parities = new Set<number>();
      for (let i = 0; i < 24; i++) {
        const digest = sha256(new TextEncoder().encode(`message ${i}`));
        const sig = await signer.signDigest(digest);
        parities.add(sig.recovery);
        expect(sig.s <= half).toBe(true);
        expect(verifyDigest(sig, digest, pub)).toBe(true);
        expect(secp256k1.verify(derSignature(sig), digest, pub, { prehash: false, format: 'der' })).toBe(
          true,
        );
        const recovered = await recoverAddress({
          hash: `0x${bytesToHex(digest)}`,
          signature: `0x${bytesToHex(compactSignature(sig))}${sig.recovery ? '1c' : '1b'}`,
        });
        expect(recovered).toBe(address);
      }
      // 24 signatures: both parities show up (probability of not: 2^-23), so both branches ran.
      expect(parities.size).toBe(2);
      // A path is refused: an HSM key is not an HD root.
      await expect(signer.signDigest(new Uint8Array(32).fill(1), 'm/0')).rejects.toThrow(/KEY_NOT_DERIVABLE/);
    } finally {
      await signer.close();
    }
  });

  it('refuses a key that was created extractable', () => {
    const s = openPkcs11Session(token);
    try {
      s.mod.C_GenerateKeyPair(
        s.session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_EC_PARAMS, value: SECP256K1_EC_PARAMS },
          { type: pkcs11js.CKA_LABEL, value: 'leaky' },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: false },
          { type: pkcs11js.CKA_EXTRACTABLE, value: true },
          { type: pkcs11js.CKA_LABEL, value: 'leaky' },
        ],
      );
    } finally {
      s.close();
    }
    expect(() => openPkcs11Signer({ ...token, keyLabel: 'leaky' })).toThrow(/PKCS11_KEY_EXPORTABLE/);
  });

  it('refuses a wrong PIN and an unknown token', () => {
    expect(() => openPkcs11Signer({ ...token, pin: 'nope-nope', keyLabel: 'cosigner-a' })).toThrow(
      /PKCS11_LOGIN_FAILED/,
    );
    expect(() => openPkcs11Signer({ ...token, tokenLabel: 'other', keyLabel: 'cosigner-a' })).toThrow(
      /PKCS11_TOKEN_NOT_FOUND/,
    );
  });
});
