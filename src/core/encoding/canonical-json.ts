import canonicalizeImpl from 'canonicalize';
import { CustosError } from '../errors/base.ts';

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Delegates to `canonicalize` (by the RFC's co-author), after refusing values JCS cannot
 * represent faithfully: non-finite numbers, bigint, undefined inside arrays, functions, symbols.
 * Custos protocol objects carry amounts as integer strings, so numbers only appear in
 * free-form bodies (audit, policy traces).
 */
const canonicalize = canonicalizeImpl as unknown as (value: unknown) => string | undefined;

export function canonicalJson(value: unknown): string {
  assertJsonValue(value, '');
  const out = canonicalize(value);
  if (out === undefined) throw new CustosError('NOT_JSON', 'value has no JSON representation');
  return out;
}

const encoder = new TextEncoder();

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

function assertJsonValue(value: unknown, path: string): void {
  switch (typeof value) {
    case 'string':
      assertWellFormed(value, path);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new CustosError('NOT_JSON', 'non-finite number cannot be canonicalized', { details: { path } });
      }
      return;
    case 'object': {
      if (value === null) return;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) assertJsonValue(value[i], `${path}/${i}`);
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null && !(value instanceof Date)) {
        throw new CustosError('NOT_JSON', 'only plain objects can be canonicalized', { details: { path } });
      }
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) continue; // JSON.stringify semantics: dropped
        assertWellFormed(k, `${path}/${k}`);
        assertJsonValue(v, `${path}/${k}`);
      }
      return;
    }
    default:
      throw new CustosError('NOT_JSON', `${typeof value} cannot be canonicalized`, { details: { path } });
  }
}

/**
 * RFC 8785 §3.2.2.2 and I-JSON (RFC 7493 §2.1): strings must be valid Unicode. A lone surrogate
 * has no UTF-8 encoding, so two implementations would hash it differently (U+FFFD, an escape, or
 * an error): refuse it.
 */
function assertWellFormed(s: string, path: string): void {
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new CustosError('NOT_JSON', 'string contains a lone surrogate (not valid Unicode)', {
      details: { path },
    });
  }
}
