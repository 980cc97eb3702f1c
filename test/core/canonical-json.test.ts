import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/encoding/canonical-json.ts';
import { parseStrictJson } from '../../src/core/encoding/strict-json.ts';

/** The examples of RFC 8785 (JSON Canonicalization Scheme), written out from the RFC text. */
describe('RFC 8785 canonicalization', () => {
  it('§3.2.2 example: literals, numbers and string escaping', () => {
    // RFC 8785 §3.2.2, "Sample input" / "Expected output".
    const input = `{
      "numbers": [333333333.33333329, 1E30, 4.50,
                  2e-3, 0.000000000000000000000000001],
      "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
      "literals": [null, true, false]
    }`;
    const expected =
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
    expect(canonicalJson(parseStrictJson(input))).toBe(expected);
  });

  it('§3.2.3 example: properties sorted by UTF-16 code units, not code points or UTF-8', () => {
    // RFC 8785 §3.2.3, "Sorting of Object Properties": the emoji (surrogate pair D83D DE00) sorts
    // before U+FB33 although its code point is higher.
    const input = `{
      "\\u20ac": "Euro Sign",
      "\\r": "Carriage Return",
      "\\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\\ud83d\\ude00": "Emoji: Grinning Face",
      "\\u0080": "Control",
      "\\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    // Written with escapes so no editor can normalize the characters (U+FB33 has a decomposition).
    const expected =
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
    expect(canonicalJson(parseStrictJson(input))).toBe(expected);
  });

  it('Appendix B: IEEE 754 number serialization', () => {
    // RFC 8785 Appendix B, "Number Serialization Samples": IEEE 754 bit pattern → canonical text.
    const samples: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'], // minus zero
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, text] of samples) {
      const view = new DataView(new ArrayBuffer(8));
      view.setBigUint64(0, BigInt(`0x${bits}`));
      expect(canonicalJson(view.getFloat64(0)), bits).toBe(text);
    }
    // Appendix B: NaN and Infinity have no JSON form and must be refused.
    for (const bits of ['7fffffffffffffff', '7ff0000000000000']) {
      const view = new DataView(new ArrayBuffer(8));
      view.setBigUint64(0, BigInt(`0x${bits}`));
      expect(() => canonicalJson(view.getFloat64(0))).toThrow(/non-finite/);
    }
  });

  it('refuses strings that are not valid Unicode (I-JSON, RFC 7493 §2.1)', () => {
    expect(() => canonicalJson({ a: '\ud800' })).toThrow(/lone surrogate/);
    expect(() => canonicalJson({ '\udc00': 1 })).toThrow(/lone surrogate/);
    expect(canonicalJson({ a: '\ud83d\ude00' })).toBe('{"a":"😀"}');
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
    expect(() => canonicalJson(new Map())).toThrow(/plain objects/);
  });
});

describe('parseStrictJson', () => {
  it('refuses duplicate keys anywhere, including escaped spellings, naming the path', () => {
    expect(() => parseStrictJson('{"amount":"1","amount":"1000"}')).toThrow(
      expect.objectContaining({ code: 'DUPLICATE_KEY', field: '/amount' }),
    );
    expect(() => parseStrictJson('{"a":{"b":1,"\\u0062":2}}')).toThrow(
      expect.objectContaining({ field: '/a/b' }),
    );
    expect(() => parseStrictJson('[{"a":1},{"a":2,"a":3}]')).toThrow(
      expect.objectContaining({ field: '/1/a' }),
    );
    expect(parseStrictJson('{"a":"}\\"","b":{"a":1}}')).toEqual({ a: '}"', b: { a: 1 } });
    expect(() => parseStrictJson('{"a":1,}')).toThrow(expect.objectContaining({ code: 'MALFORMED_JSON' }));
  });
});

describe('canonicalJson against the canonicalize package (differential)', () => {
  it('agrees on arbitrary JSON values', async () => {
    const fc = (await import('fast-check')).default;
    const reference = (await import('canonicalize')).default as unknown as (v: unknown) => string;
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 1000 },
    );
  });
});
