import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { HDKey } from '@scure/bip32';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CustosError } from '../../src/core/errors/base.ts';
import type { EcdsaSignature } from '../../src/keys/backend.ts';
import { compactSignature, derSignature, signDigestLowS, verifyDigest } from '../../src/keys/ecdsa.ts';
import { generateFileKey, openFileSigner } from '../../src/keys/file.ts';
import { memorySigner } from '../../src/keys/memory.ts';

/**
 * ECDSA signing in the software backends runs in libsecp256k1 (tiny-secp256k1, WASM). These tests
 * pin it to the official vectors and to @noble/curves, byte for byte: the switch must be invisible
 * to every chain (Bitcoin DER low-S, EVM recovery id).
 */
const VECTORS = new URL('../../../shared/vectors/', import.meta.url).pathname;
const N = secp256k1.Point.CURVE().n;
const to32 = (n: bigint) => hexToBytes(n.toString(16).padStart(64, '0'));

/** Noble's answer for the same inputs: RFC 6979, no prehash, low-S, recovered format. */
function nobleSign(digest: Uint8Array, key: Uint8Array): EcdsaSignature {
  const sig = secp256k1.Signature.fromBytes(
    secp256k1.sign(digest, key, { prehash: false, lowS: true, format: 'recovered' }),
    'recovered',
  );
  return { r: sig.r, s: sig.s, recovery: sig.recovery as 0 | 1 };
}

function expectCustosError(fn: () => unknown, code: string) {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(CustosError);
  expect((thrown as CustosError).code).toBe(code);
}

/** A valid secret key: 32 random bytes reduced into [1, n-1], plus the edges 1 and n-1. */
const secretKey = fc.oneof(
  fc.bigInt({ min: 1n, max: N - 1n }).map(to32),
  fc.constantFrom(to32(1n), to32(N - 1n), to32(N >> 1n), to32((N >> 1n) + 1n)),
);
/** Any 32-byte digest, including 0 and values ≥ n (RFC 6979 bits2int reduces them). */
const digest32 = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.constantFrom(new Uint8Array(32), new Uint8Array(32).fill(0xff), to32(N), to32(N - 1n)),
);

describe('signDigestLowS (libsecp256k1)', () => {
  it('reproduces the ten BIP 143 example signatures (Bitcoin Core, RFC 6979) byte for byte', () => {
    const ex = JSON.parse(readFileSync(`${VECTORS}bips/bip143_examples.json`, 'utf8')) as {
      examples: {
        cases: {
          sighashes: { sigHash: string; private_key?: string; public_key?: string; signature: string }[];
        }[];
      }[];
    };
    let n = 0;
    for (const e of ex.examples)
      for (const c of e.cases)
        for (const s of c.sighashes) {
          if (!s.private_key) continue;
          const sig = signDigestLowS(hexToBytes(s.sigHash), hexToBytes(s.private_key));
          // The vector's signature is DER || sighash-type byte.
          expect(bytesToHex(derSignature(sig))).toBe(s.signature.slice(0, -2));
          expect(verifyDigest(sig, hexToBytes(s.sigHash), hexToBytes(s.public_key!))).toBe(true);
          n++;
        }
    expect(n).toBe(10);
  });

  it('reproduces the EIP-155 example signature (r, s, v = 37 → recovery id 0)', () => {
    const v = JSON.parse(readFileSync(`${VECTORS}ethereum/eip155_example.json`, 'utf8')).vectors[0] as {
      privateKey: string;
      signingHash: string;
      r: string;
      s: string;
      v: number;
      chainId: number;
    };
    const sig = signDigestLowS(hexToBytes(v.signingHash.slice(2)), hexToBytes(v.privateKey.slice(2)));
    expect(sig.r).toBe(BigInt(v.r));
    expect(sig.s).toBe(BigInt(v.s));
    // EIP-155: v = recovery + chainId * 2 + 35.
    expect(sig.recovery).toBe(v.v - 35 - v.chainId * 2);
  });

  it('is byte-identical to @noble/curves, low-S, recovers the key and verifies (property)', () => {
    fc.assert(
      fc.property(secretKey, digest32, (key, digest) => {
        const ours = signDigestLowS(digest, key);
        const theirs = nobleSign(digest, key);
        expect(bytesToHex(compactSignature(ours))).toBe(bytesToHex(compactSignature(theirs)));
        expect(ours.recovery).toBe(theirs.recovery);
        expect(ours.s <= N >> 1n).toBe(true);
        const pub = secp256k1.getPublicKey(key, true);
        const rec = new secp256k1.Signature(ours.r, ours.s)
          .addRecoveryBit(ours.recovery)
          .recoverPublicKey(digest);
        expect(rec.toHex(true)).toBe(bytesToHex(pub));
        expect(verifyDigest(ours, digest, pub)).toBe(true);
        // Bitcoin path: strict DER (as sign.ts encodes it) parses back and verifies under noble.
        const der = derSignature(ours);
        expect(secp256k1.verify(der, digest, pub, { prehash: false, lowS: true, format: 'der' })).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('a different digest or key gives a signature that does not verify for the first', () => {
    const key = to32(0x1234n);
    const d1 = new Uint8Array(32).fill(1);
    const d2 = new Uint8Array(32).fill(2);
    const sig = signDigestLowS(d1, key);
    expect(verifyDigest(sig, d2, secp256k1.getPublicKey(key, true))).toBe(false);
    expect(verifyDigest(sig, d1, secp256k1.getPublicKey(to32(0x1235n), true))).toBe(false);
  });

  it('refuses invalid keys and digests with a typed CustosError (never a WASM TypeError)', () => {
    const d = new Uint8Array(32).fill(7);
    const k = to32(5n);
    expectCustosError(() => signDigestLowS(d, new Uint8Array(32)), 'KEY_INVALID'); // zero
    expectCustosError(() => signDigestLowS(d, to32(N)), 'KEY_INVALID'); // = n
    expectCustosError(() => signDigestLowS(d, to32(N + 1n)), 'KEY_INVALID'); // > n
    expectCustosError(() => signDigestLowS(d, new Uint8Array(32).fill(0xff)), 'KEY_INVALID');
    expectCustosError(() => signDigestLowS(d, new Uint8Array(31).fill(1)), 'KEY_INVALID');
    expectCustosError(() => signDigestLowS(d, new Uint8Array(33).fill(1)), 'KEY_INVALID');
    expectCustosError(() => signDigestLowS(d, 'aa'.repeat(32) as unknown as Uint8Array), 'KEY_INVALID');
    expectCustosError(() => signDigestLowS(new Uint8Array(31), k), 'BAD_DIGEST');
    expectCustosError(() => signDigestLowS(new Uint8Array(33), k), 'BAD_DIGEST');
    expectCustosError(() => signDigestLowS(new Uint8Array(0), k), 'BAD_DIGEST');
    expectCustosError(() => signDigestLowS(Array(32).fill(1) as unknown as Uint8Array, k), 'BAD_DIGEST');
    // The module stays usable after refusals (no WASM state left behind).
    expect(signDigestLowS(d, k)).toEqual(nobleSign(d, k));
  });
});

describe('memorySigner signs through libsecp256k1', () => {
  it('raw key and BIP 32 path: same signature as noble with the (derived) key', async () => {
    const root = HDKey.fromMasterSeed(hexToBytes('000102030405060708090a0b0c0d0e0f'));
    const hd = memorySigner('hd', root);
    const path = "m/48'/1'/0'/2'/0/5";
    const child = root.derive(path);
    const digest = new Uint8Array(32).fill(0x42);
    expect(await hd.signDigest(digest, path)).toEqual(nobleSign(digest, child.privateKey!));
    const raw = memorySigner('raw', child.privateKey!);
    expect(await raw.signDigest(digest)).toEqual(nobleSign(digest, child.privateKey!));
    await expect(raw.signDigest(new Uint8Array(31))).rejects.toThrow(/BAD_DIGEST/);
    await raw.close();
    await expect(raw.signDigest(digest)).rejects.toThrow(/KEY_CLOSED/);
  });

  it('a raw key outside [1, n-1] is refused with KEY_INVALID at signing', async () => {
    const bad = memorySigner('zero', new Uint8Array(32));
    await expect(bad.signDigest(new Uint8Array(32).fill(1))).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });
});

describe('file keystore signer signs through libsecp256k1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-ecdsa-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const FAST = { N: 1 << 10, r: 8, p: 1 };
  const SEED = hexToBytes('000102030405060708090a0b0c0d0e0f');
  const PASS = 'correct horse battery';

  it('raw key and BIP 32 seed at a path (cold and cached): same signature as noble', async () => {
    const rawKey = to32(0xc0ffeen);
    await generateFileKey({
      path: join(dir, 'raw.json'),
      passphrase: PASS,
      label: 'raw',
      keyType: 'secp256k1',
      secret: rawKey,
      scrypt: FAST,
    });
    await generateFileKey({
      path: join(dir, 'seed.json'),
      passphrase: PASS,
      label: 'seed',
      keyType: 'bip32-seed',
      secret: SEED,
      scrypt: FAST,
    });
    const raw = await openFileSigner({ path: join(dir, 'raw.json'), passphrase: PASS });
    const hd = await openFileSigner({ path: join(dir, 'seed.json'), passphrase: PASS });
    const path = "m/48'/0'/0'/2'/1/7";
    const child = HDKey.fromMasterSeed(SEED).derive(path).privateKey!;
    for (const fill of [0x01, 0x7f, 0xff]) {
      const digest = new Uint8Array(32).fill(fill);
      expect(await raw.signDigest(digest)).toEqual(nobleSign(digest, rawKey));
      // First call derives from the seed, the second unseals the cached child key.
      expect(await hd.signDigest(digest, path)).toEqual(nobleSign(digest, child));
      expect(await hd.signDigest(digest, path)).toEqual(nobleSign(digest, child));
    }
    await expect(raw.signDigest(new Uint8Array(33))).rejects.toThrow(/BAD_DIGEST/);
    await raw.close();
    await hd.close();
  });
});
