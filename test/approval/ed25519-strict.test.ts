import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { verifySignatureOver } from '../../src/core/approval/verify-signature.ts';
import { ed25519KeyProblem } from '../../src/core/identity/ed25519-key.ts';
import { PrincipalSet } from '../../src/core/identity/principal-set.ts';
import { EdKey, principal } from './fixtures.ts';

const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const leToBig = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const bigToLe = (n: bigint) =>
  Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

describe('Ed25519 strict RFC 8032 verification', () => {
  it('RFC 8032 §7.1 TEST 1 verifies through the PrincipalSet path', () => {
    const pk = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
    const sig =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
    // The RFC's message is empty; our signed messages are 32-byte digests, so check the key/sig pair with noble
    // and the acceptance of the key by our strict key checks.
    expect(ed25519.verify(hexToBytes(sig), new Uint8Array(), hexToBytes(pk), { zip215: false })).toBe(true);
    expect(ed25519KeyProblem(pk)).toBeUndefined();
  });

  it('refuses a non-canonical S (S + L), which ZIP-215-lenient verifiers would not all agree on', () => {
    const k = new EdKey('k1');
    const set = new PrincipalSet([principal('alice', ['approver'], ['ops'], [k.credential()])]);
    const digest = new Uint8Array(32).fill(7);
    const good = k.sign(digest, 'alice');
    expect(verifySignatureOver(digest, good, set).ok).toBe(true);
    const raw = Buffer.from(good.signature, 'base64url');
    const s = leToBig(raw.subarray(32));
    const malleated = Buffer.concat([raw.subarray(0, 32), bigToLe(s + L)]);
    expect(
      verifySignatureOver(digest, { ...good, signature: malleated.toString('base64url') }, set),
    ).toMatchObject({
      ok: false,
      code: 'BAD_SIGNATURE',
    });
  });

  it('refuses small-order and non-canonical public keys when the principal set is built', () => {
    // The identity point (y = 1) and the order-2 point (y = -1) are small-order.
    const identity = `01${'00'.repeat(31)}`;
    expect(ed25519KeyProblem(identity)).toMatch(/small-order/);
    const p = 2n ** 255n - 19n;
    expect(ed25519KeyProblem(bytesToHex(bigToLe(p - 1n)))).toMatch(/small-order/);
    // y = p + 1 encodes y = 1 non-canonically.
    expect(ed25519KeyProblem(bytesToHex(bigToLe(p + 1n)))).toMatch(/canonical|small-order/);
    expect(ed25519KeyProblem('AB'.repeat(32))).toMatch(/hex/);
    expect(
      () =>
        new PrincipalSet([
          principal(
            'mallory',
            ['approver'],
            ['ops'],
            [
              {
                id: 'm',
                type: 'ed25519',
                publicKey: identity,
                status: 'active',
                addedAt: '2026-01-01T00:00:00Z',
              },
            ],
          ),
        ]),
    ).toThrow(/small-order/);
  });

  it('refuses two principals sharing one credential id', () => {
    const k = new EdKey('shared');
    expect(
      () =>
        new PrincipalSet([
          principal('a', ['approver'], ['ops'], [k.credential()]),
          principal('b', ['approver'], ['ops'], [k.credential()]),
        ]),
    ).toThrow(/credential id used twice/);
  });

  it('refuses one public key registered under two credential ids (one holder, two approvers)', () => {
    const k = new EdKey('k-a');
    expect(
      () =>
        new PrincipalSet([
          principal('a', ['approver'], ['ops'], [k.credential()]),
          principal('b', ['approver'], ['ops'], [{ ...k.credential(), id: 'k-b' }]),
        ]),
    ).toThrow(/registered twice/);
  });
});
