import { CustosError } from '../errors/base.ts';

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS), in one pass:
 *  - object members sorted by their names as arrays of UTF-16 code units (§3.2.3) — which is what
 *    the default `Array.prototype.sort` comparison does;
 *  - strings and numbers serialized as ECMAScript `JSON.stringify` does (§3.2.2.2, §3.2.2.3:
 *    shortest round-trip form, `-0` as `0`); literals as is; no whitespace.
 * Refuses what JCS cannot represent faithfully: non-finite numbers, bigint, `undefined` inside
 * arrays, functions, symbols, class instances other than Date, and strings that are not valid
 * Unicode (lone surrogates, I-JSON RFC 7493 §2.1). Object members whose value is `undefined` are
 * dropped, as `JSON.stringify` does.
 *
 * test/core/canonical-json.test.ts runs the RFC's examples and a differential property test
 * against the `canonicalize` package (by the RFC's co-author). Custos protocol objects carry
 * amounts as integer strings, so numbers only appear in free-form bodies (audit, policy traces).
 */
export function canonicalJson(value: unknown): string {
  const path: string[] = [];
  return serialize(value, path);
}

const encoder = new TextEncoder();

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

function notJson(message: string, path: string[]): CustosError {
  return new CustosError('NOT_JSON', message, { details: { path: path.length ? `/${path.join('/')}` : '' } });
}

function serialize(value: unknown, path: string[]): string {
  switch (typeof value) {
    case 'string':
      assertWellFormed(value, path);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw notJson('non-finite number cannot be canonicalized', path);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          path.push(String(i));
          if (i > 0) out += ',';
          out += serialize(value[i], path);
          path.pop();
        }
        return `${out}]`;
      }
      if (value instanceof Date) return serialize(value.toJSON(), path);
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw notJson('only plain objects can be canonicalized', path);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue; // JSON.stringify semantics: dropped
        path.push(k);
        assertWellFormed(k, path);
        out += `${first ? '' : ','}${JSON.stringify(k)}:${serialize(v, path)}`;
        path.pop();
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw notJson(`${typeof value} cannot be canonicalized`, path);
  }
}

/**
 * RFC 8785 §3.2.2.2 and I-JSON (RFC 7493 §2.1): strings must be valid Unicode. A lone surrogate
 * has no UTF-8 encoding, so two implementations would hash it differently (U+FFFD, an escape, or
 * an error): refuse it.
 */
function assertWellFormed(s: string, path: string[]): void {
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw notJson('string contains a lone surrogate (not valid Unicode)', path);
  }
}
