import type { Finding } from './types.ts';

/**
 * Look-alike (address-poisoning) detection.
 *
 * Poisoning attacks send dust from an address that shares the visible ends of one the victim pays
 * often, hoping it gets copied from the history; DMM's theft address shared its first 5 and last 2
 * characters with another address. A destination that is not itself a known entry but
 *  - has the same first 4 and last 4 characters after the type prefix (`0x`, `bc1q`, `bc1p`, `1`,
 *    `3`, testnet equivalents), or
 *  - is within a small edit distance of a candidate (on the checksummed form as written),
 * is flagged `LOOKALIKE_DESTINATION`, naming the candidate it mimics.
 */
export const LOOKALIKE_CODE = 'LOOKALIKE_DESTINATION';
/** Two random 40-hex-digit addresses differ in ~37 positions; 4 edits is far inside "same-looking". */
export const LOOKALIKE_MAX_EDITS = 4;
export const LOOKALIKE_AFFIX = 4;

export interface LookalikeCandidate {
  address: string;
  label?: string;
  /** where the candidate came from: 'addressBook', 'recent', … */
  source?: string;
}

const PREFIX_RE = /^(?:0x|bc1[qp]|tb1[qp]|bcrt1[qp]|[123mn])/i;

function body(address: string, evm: boolean): string {
  const b = address.replace(PREFIX_RE, '');
  return evm ? b.toLowerCase() : b;
}

function prefixOf(address: string): string {
  return PREFIX_RE.exec(address)?.[0].toLowerCase() ?? '';
}

/** Levenshtein distance, or `max + 1` as soon as it must exceed `max` (banded, O(n·max)). */
export function boundedEditDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const n = b.length;
  let prev = new Array<number>(n + 1);
  let cur = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    const ca = a.charCodeAt(i - 1);
    const lo = Math.max(1, i - max);
    const hi = Math.min(n, i + max);
    if (lo > 1) cur[lo - 1] = max + 1;
    for (let j = lo; j <= hi; j++) {
      const cost = ca === b.charCodeAt(j - 1) ? 0 : 1;
      const v = Math.min(prev[j - 1]! + cost, (prev[j] ?? max + 1) + 1, (cur[j - 1] ?? max + 1) + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (hi < n) cur[hi + 1] = max + 1;
    if (rowMin > max) return max + 1;
    [prev, cur] = [cur, prev];
  }
  return Math.min(prev[n]!, max + 1);
}

interface Normalised {
  prefix: string;
  body: string;
  head: string;
  tail: string;
  full: string;
  /** character histogram of `full`, folded into 64 buckets (see histogramDistance) */
  hist: Int16Array;
}

function histogram(s: string): Int16Array {
  const h = new Int16Array(64);
  for (let i = 0; i < s.length; i++) h[s.charCodeAt(i) & 63]!++;
  return h;
}

/**
 * Lower bound on the edit distance: one substitution moves at most 2 units of the character
 * histogram, one insertion or deletion 1, so distance ≥ L1(histograms) / 2. Folding characters
 * into 64 buckets can only lower L1, so the bound stays valid. It rules out almost every unrelated
 * address in 64 steps, without running the dynamic programme.
 */
function histogramDistance(a: Int16Array, b: Int16Array): number {
  let l1 = 0;
  for (let i = 0; i < 64; i++) l1 += Math.abs(a[i]! - b[i]!);
  return l1;
}

function normalise(address: string, evm: boolean): Normalised {
  const b = body(address, evm);
  const full = evm ? address.toLowerCase() : address;
  return {
    prefix: prefixOf(address),
    body: b,
    head: b.slice(0, LOOKALIKE_AFFIX),
    tail: b.slice(-LOOKALIKE_AFFIX),
    full,
    hist: histogram(full),
  };
}

/** Per-candidate normal forms, memoised for candidates that live across calls (address-book entries, ledger payees). */
const memo = new WeakMap<object, { evm: boolean; n: Normalised }>();
const stringMemo = { evm: new Map<string, Normalised>(), other: new Map<string, Normalised>() };

function normalised(c: string | LookalikeCandidate, evm: boolean): Normalised {
  if (typeof c === 'string') {
    const m = evm ? stringMemo.evm : stringMemo.other;
    let n = m.get(c);
    if (!n) {
      n = normalise(c, evm);
      if (m.size >= 100_000) m.clear(); // bounded
      m.set(c, n);
    }
    return n;
  }
  const m = memo.get(c);
  if (m && m.evm === evm) return m.n;
  const n = normalise(c.address, evm);
  memo.set(c, { evm, n });
  return n;
}

/**
 * Returns a finding if `destination` resembles one of `candidates` without being equal to it
 * (EVM: compared case-insensitively). `chain` is a CAIP-2 id; candidates for other chains must be
 * filtered out by the caller or passed as plain strings of the same chain.
 */
export function findLookalike(
  destination: string,
  chain: string,
  candidates: ReadonlyArray<string | LookalikeCandidate>,
): Finding | undefined {
  const evm = chain.startsWith('eip155:');
  const dn = normalise(destination, evm);
  for (const c of candidates) {
    const n = normalised(c, evm);
    if (n.full === dn.full) continue; // the same address (EVM: in another letter case)
    let how: 'affixes' | 'edit-distance' | undefined;
    let distance: number | undefined;
    if (
      n.prefix === dn.prefix &&
      dn.body.length >= 2 * LOOKALIKE_AFFIX &&
      n.head === dn.head &&
      n.tail === dn.tail
    ) {
      how = 'affixes';
    } else if (histogramDistance(dn.hist, n.hist) <= 2 * LOOKALIKE_MAX_EDITS) {
      const dist = boundedEditDistance(dn.full, n.full, LOOKALIKE_MAX_EDITS);
      if (dist <= LOOKALIKE_MAX_EDITS) {
        how = 'edit-distance';
        distance = dist;
      }
    }
    if (how) {
      const cand = typeof c === 'string' ? { address: c } : c;
      return {
        code: LOOKALIKE_CODE,
        message: `destination resembles ${cand.label ? `"${cand.label}" ` : ''}${cand.address} but is a different address`,
        details: {
          destination,
          mimics: cand.address,
          ...(cand.label !== undefined ? { label: cand.label } : {}),
          ...(cand.source !== undefined ? { source: cand.source } : {}),
          match: how,
          ...(distance !== undefined ? { distance } : {}),
        },
      };
    }
  }
  return undefined;
}
