import { InvalidInputError } from '../errors/base.ts';

/**
 * JSON.parse that refuses duplicate object keys.
 *
 * `JSON.parse('{"amount":"1","amount":"1000"}')` silently keeps the last value, while another
 * parser (a reviewer's tool, a co-signer in another language) may keep the first: the same bytes
 * would then mean two different withdrawals. RFC 8259 §4 says names SHOULD be unique; I-JSON
 * (RFC 7493 §2.3) and RFC 8785 make it a MUST. We check structure with a small scanner and then
 * let the platform parser build the value.
 */
export function parseStrictJson(text: string, what = 'JSON'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new InvalidInputError('MALFORMED_JSON', '', `${what} is not valid JSON`, { cause });
  }
  const dup = findDuplicateKey(text);
  if (dup) throw new InvalidInputError('DUPLICATE_KEY', dup, `${what} has a duplicate key`);
  return value;
}

/** Returns the JSON-pointer path of the first duplicate key, or undefined. Input must be valid JSON. */
function findDuplicateKey(text: string): string | undefined {
  // Stack of open containers: for objects, the set of keys seen and the pointer path.
  type Frame = { keys: Set<string> | null; path: string; index: number; pendingKey: string | null };
  const stack: Frame[] = [];
  let i = 0;
  const n = text.length;
  const readString = (): string => {
    const start = i; // at the opening quote
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x5c) i += 2;
      else if (c === 0x22) break;
      else i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  while (i < n) {
    const c = text[i]!;
    if (c === '{' || c === '[') {
      const parent = stack[stack.length - 1];
      const seg = parent ? (parent.keys ? parent.pendingKey : String(parent.index)) : null;
      const path = parent ? `${parent.path}/${seg}` : '';
      stack.push({ keys: c === '{' ? new Set() : null, path, index: 0, pendingKey: null });
      i++;
    } else if (c === '}' || c === ']') {
      stack.pop();
      i++;
    } else if (c === '"') {
      const top = stack[stack.length - 1];
      const s = readString();
      if (top?.keys) {
        // A string in an object is a key when it is followed by ':'.
        let j = i;
        while (j < n && /\s/.test(text[j]!)) j++;
        if (text[j] === ':') {
          if (top.keys.has(s)) return `${top.path}/${s}`;
          top.keys.add(s);
          top.pendingKey = s;
        }
      }
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top && !top.keys) top.index++;
      i++;
    } else {
      i++;
    }
  }
  return undefined;
}
