import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStrictJson } from '../../src/core/encoding/strict-json.ts';
import {
  DISPLAY_UNSAFE_RE,
  fingerprint,
  type Intent,
  intentDigest,
  intentDigestHex,
  parseIntent,
} from '../../src/core/intent/index.ts';
import { BTC, ERC20, EVM_NATIVE } from './intent-fixtures.ts';

/** The worked example of docs/foundation.md, repeated here so the two cannot drift apart. */
const WORKED_EXAMPLE = {
  json: `{
  "version": 1,
  "id": "6f1c2a3e-8b4d-4e2f-9a1b-3c5d7e9f0a12",
  "chain": "eip155:1",
  "asset": "eip155:1/erc20:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
  "wallet": "treasury-hot-1",
  "destination": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
  "amount": "250000000",
  "maxFee": "3000000000000000",
  "reference": "withdrawal #81723",
  "requestedBy": "svc-backoffice",
  "createdAt": "2026-03-01T09:30:00Z",
  "expiresAt": "2026-03-01T10:30:00Z"
}`,
  canonical:
    '{"amount":"250000000","asset":"eip155:1/erc20:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48","chain":"eip155:1",' +
    '"createdAt":"2026-03-01T09:30:00Z","destination":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",' +
    '"expiresAt":"2026-03-01T10:30:00Z","id":"6f1c2a3e-8b4d-4e2f-9a1b-3c5d7e9f0a12","maxFee":"3000000000000000",' +
    '"reference":"withdrawal #81723","requestedBy":"svc-backoffice","version":1,"wallet":"treasury-hot-1"}',
  digest: '847ee47bc5aef690debb6b32469eebce1b56344b7d161e35b2f369d9a469de21',
  fingerprint: 'GHZE-8YY5',
};

describe('intent digest: worked example', () => {
  it('matches an independent computation and the values in docs/foundation.md', () => {
    const intent = parseIntent(parseStrictJson(WORKED_EXAMPLE.json));
    // Independent: node:crypto over the tag and the canonical text written out by hand.
    const independent = createHash('sha256')
      .update(`CUSTOS-INTENT-V1\n${WORKED_EXAMPLE.canonical}`, 'utf8')
      .digest('hex');
    expect(independent).toBe(WORKED_EXAMPLE.digest);
    expect(intentDigestHex(intent)).toBe(WORKED_EXAMPLE.digest);
    expect(fingerprint(intentDigest(intent))).toBe(WORKED_EXAMPLE.fingerprint);

    const doc = readFileSync(new URL('../../docs/foundation.md', import.meta.url), 'utf8');
    expect(doc).toContain(WORKED_EXAMPLE.json);
    expect(doc).toContain(WORKED_EXAMPLE.canonical);
    expect(doc).toContain(WORKED_EXAMPLE.digest);
    expect(doc).toContain(WORKED_EXAMPLE.fingerprint);
  });
});

describe('fingerprint', () => {
  /** Bytes from a bit string, independent of the implementation's bit reader. */
  const bits = (s: string) => Uint8Array.from(s.match(/.{8}/g)!.map((b) => Number.parseInt(b, 2)));
  const fiveBit = (values: number[]) => bits(values.map((v) => v.toString(2).padStart(5, '0')).join(''));

  it('is the first 40 bits as 8 Crockford base32 characters in two groups', () => {
    expect(fingerprint(new Uint8Array(32))).toBe('0000-0000');
    expect(fingerprint(new Uint8Array(32).fill(0xff))).toBe('ZZZZ-ZZZZ');
    // Every symbol of the alphabet, in order: no I, L, O or U.
    expect(fingerprint(fiveBit([0, 1, 2, 3, 4, 5, 6, 7]))).toBe('0123-4567');
    expect(fingerprint(fiveBit([8, 9, 10, 11, 12, 13, 14, 15]))).toBe('89AB-CDEF');
    expect(fingerprint(fiveBit([16, 17, 18, 19, 20, 21, 22, 23]))).toBe('GHJK-MNPQ');
    expect(fingerprint(fiveBit([24, 25, 26, 27, 28, 29, 30, 31]))).toBe('RSTV-WXYZ');
  });

  it('always has the documented format and depends only on the first 5 bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 27, maxLength: 27 }),
        (d, tail) => {
          const f = fingerprint(d);
          expect(f).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
          const other = new Uint8Array(32);
          other.set(d.subarray(0, 5));
          other.set(tail, 5);
          expect(fingerprint(other)).toBe(f);
        },
      ),
    );
  });
});

// ---- property tests ----

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const uuid = fc
  .tuple(
    hex(8),
    hex(4),
    fc.integer({ min: 1, max: 8 }),
    hex(3),
    fc.constantFrom('8', '9', 'a', 'b'),
    hex(3),
    hex(12),
  )
  .map(([a, b, v, c, w, d, e]) => `${a}-${b}-${v}${c}-${w}${d}-${e}`)
  .filter((u) => !/^0{8}-0{4}-/.test(u));
const idText = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,40}$/);
const amount = fc.bigInt({ min: 1n, max: (1n << 256n) - 1n }).map(String);
const reference = fc
  .string({ maxLength: 64 })
  .filter((s) => !DISPLAY_UNSAFE_RE.test(s) && (s as string & { isWellFormed(): boolean }).isWellFormed());
const instant = fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2040, 0, 1) });

const intentArb: fc.Arbitrary<Intent> = fc
  .record({
    base: fc.constantFrom(EVM_NATIVE, ERC20, BTC),
    id: uuid,
    wallet: idText,
    requestedBy: idText,
    amount,
    maxFee: fc.option(fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String), { nil: undefined }),
    reference,
    created: instant,
    ttl: fc.integer({ min: 1000, max: 7 * 86_400_000 }),
  })
  .map(({ base, created, ttl, maxFee, ...rest }) => {
    const { maxFee: _drop, ...b } = base as typeof ERC20;
    const i: Record<string, unknown> = {
      ...b,
      ...rest,
      // Whole seconds: Date#toISOString always writes .sss, strip it to vary spellings honestly.
      createdAt: new Date(created).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      expiresAt: new Date(created + ttl).toISOString(),
    };
    if (maxFee !== undefined) i.maxFee = maxFee;
    return parseIntent(i);
  });

/** Serializes with shuffled keys, random whitespace and a random spelling of the number 1. */
function respell(intent: Intent, order: number[], ws: string[], one: string): string {
  const entries = Object.entries(intent);
  const keys = entries.map((_, i) => i).sort((a, b) => (order[a] ?? 0) - (order[b] ?? 0));
  const w = (i: number) => ws[i % ws.length] ?? '';
  const parts = keys.map((k, n) => {
    const [key, value] = entries[k]!;
    const v = key === 'version' ? one : JSON.stringify(value);
    return `${w(n)}${JSON.stringify(key)}${w(n + 1)}:${w(n + 2)}${v}${w(n + 3)}`;
  });
  return `${w(7)}{${parts.join(',')}}${w(9)}`;
}

describe('intent digest properties', () => {
  it('key order, whitespace and number formatting of the JSON text never change the digest', () => {
    fc.assert(
      fc.property(
        intentArb,
        fc.array(fc.integer(), { minLength: 12, maxLength: 12 }),
        fc.array(fc.constantFrom('', ' ', '\n', '\t', '\r\n', '   '), { minLength: 1, maxLength: 10 }),
        fc.constantFrom('1', '1.0', '1e0', '1E0', '10e-1', '0.1e1', '1.000', '100e-2'),
        (intent, order, ws, one) => {
          const text = respell(intent, order, ws, one);
          const reparsed = parseIntent(parseStrictJson(text));
          expect(intentDigestHex(reparsed)).toBe(intentDigestHex(intent));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('changing any single field always changes the digest', () => {
    const mutate: Record<string, (v: string) => string | number> = {
      version: () => 2,
      id: (v) => (v[0] === 'a' ? 'b' : 'a') + v.slice(1),
      chain: (v) => `${v}0`,
      asset: (v) => `${v}0`,
      wallet: (v) => `${v}x`,
      destination: (v) => v.slice(0, -1) + (v.endsWith('a') ? 'b' : 'a'),
      amount: (v) => (BigInt(v) + 1n).toString(),
      maxFee: (v) => (BigInt(v) + 1n).toString(),
      reference: (v) => `${v}.`,
      requestedBy: (v) => `${v}x`,
      createdAt: (v) => v.replace(/Z$/, '.5Z'),
      expiresAt: (v) => v.replace(/\.\d+Z$|Z$/, '.9Z'),
    };
    fc.assert(
      fc.property(intentArb, fc.constantFrom(...Object.keys(mutate)), (intent, field) => {
        const before = intentDigestHex(intent);
        const copy: Record<string, unknown> = { ...intent };
        if (field === 'maxFee' && copy.maxFee === undefined)
          copy.maxFee = '0'; // adding a field
        else copy[field] = mutate[field]!(String(copy[field]));
        expect(copy[field]).not.toEqual((intent as Record<string, unknown>)[field]);
        expect(intentDigestHex(copy as Intent)).not.toBe(before);
      }),
      { numRuns: 500 },
    );
  });

  it('removing the optional field changes the digest', () => {
    const { maxFee: _, ...without } = ERC20;
    expect(intentDigestHex(parseIntent(without))).not.toBe(intentDigestHex(parseIntent(ERC20)));
  });
});
