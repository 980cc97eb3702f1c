import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { bodyDigest } from '../../src/core/auth/request.ts';
import { canonicalJson } from '../../src/core/encoding/canonical-json.ts';
import { contentDigest } from '../../src/store/workflow/outbox.ts';

/**
 * The request-body digest (signed by the coordinator, checked by the co-signers) and the outbox
 * content digest (which co-signer ledgers and resumed steps compare) are computed with Node's
 * one-shot SHA-256: they must be exactly the SHA-256 of the UTF-8 bytes, as the JS implementation
 * they replaced computed it — a digest that changed would refuse every retry of a recorded request.
 */
describe('SHA-256 digests computed with node:crypto', () => {
  const strings = ['', '{"a":1}', 'ü€𝄞 — 日本語', 'x'.repeat(70_000), '\ud800 lone surrogate'];

  it('bodyDigest: the SHA-256 of the UTF-8 bytes, for strings and byte arrays', () => {
    for (const s of strings) {
      const bytes = utf8ToBytes(s);
      expect(bytesToHex(bodyDigest(s))).toBe(bytesToHex(sha256(bytes)));
      expect(bytesToHex(bodyDigest(bytes))).toBe(bytesToHex(sha256(bytes)));
      expect(bodyDigest(s)).toBeInstanceOf(Uint8Array);
    }
    // FIPS 180-2 test vector: "abc".
    expect(bytesToHex(bodyDigest('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('contentDigest: the SHA-256 of the RFC 8785 form, whatever the key order', () => {
    const content = { z: ['ü', 1, { b: true, a: null }], a: 'x'.repeat(3000), m: 1e21 };
    const expected = bytesToHex(sha256(utf8ToBytes(canonicalJson(content))));
    expect(contentDigest(content)).toBe(expected);
    expect(contentDigest({ m: 1e21, a: 'x'.repeat(3000), z: ['ü', 1, { a: null, b: true }] })).toBe(expected);
    expect(contentDigest({ ...content, m: 2 })).not.toBe(expected);
  });
});
