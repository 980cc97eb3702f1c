import { InvalidInputError } from '../errors/base.ts';
import type { LedgerEntry } from './types.ts';

/**
 * The velocity ledger, indexed for rolling-window queries.
 *
 * For every grouping (e.g. wallet+asset) it keeps, per key, the entry times in ascending order and
 * the prefix sums of their amounts, so `sum`/`count` over any window is two binary searches and one
 * subtraction — an evaluation never scans the ledger (100 000 entries would cost ~1 ms each).
 *
 * Entries at or after the window start are counted, including entries stamped in the future (a
 * skewed clock must not hide spending from a limit).
 */
export type LedgerField = 'wallet' | 'asset' | 'destination' | 'initiator' | 'chain';

interface Series {
  times: number[];
  /** prefix[i] = sum of the amounts of the first i entries (prefix.length = times.length + 1) */
  prefix: bigint[];
}

interface Indexed {
  t: number;
  amount: bigint;
  entry: LedgerEntry;
}

const SEP = '\u0000';

/** EVM addresses are case-insensitive (EIP-55 case is only a checksum); Bitcoin's are not. */
export function destinationKey(chain: string, destination: string): string {
  return chain.startsWith('eip155:')
    ? `${chain}${SEP}${destination.toLowerCase()}`
    : `${chain}${SEP}${destination}`;
}

function fieldValue(
  f: LedgerField,
  e: { wallet: string; asset: string; chain: string; destination: string; requestedBy: string },
): string {
  switch (f) {
    case 'wallet':
      return e.wallet;
    case 'asset':
      return e.asset;
    case 'chain':
      return e.chain;
    case 'initiator':
      return e.requestedBy;
    case 'destination':
      return destinationKey(e.chain, e.destination);
  }
}

export function groupKey(
  fields: readonly LedgerField[],
  e: { wallet: string; asset: string; chain: string; destination: string; requestedBy: string },
): string {
  let k = '';
  for (const f of fields) k += fieldValue(f, e) + SEP;
  return k;
}

function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function parseEntry(e: LedgerEntry, i: number): Indexed {
  const t = Date.parse(e.at);
  if (!Number.isFinite(t)) throw new InvalidInputError('LEDGER_INVALID', `ledger/${i}/at`, 'not a timestamp');
  if (!/^(0|[1-9][0-9]{0,77})$/.test(e.amount)) {
    throw new InvalidInputError('LEDGER_INVALID', `ledger/${i}/amount`, 'not an amount in base units');
  }
  return { t, amount: BigInt(e.amount), entry: e };
}

export class LedgerIndex {
  private readonly items: Indexed[] = [];
  private readonly groupings = new Map<string, Map<string, Series>>();
  private readonly bySpecArray = new WeakMap<readonly LedgerField[], Map<string, Series>>();
  private readonly paid = new Set<string>();

  constructor(entries: readonly LedgerEntry[] = []) {
    entries.forEach((e, i) => {
      this.items.push(parseEntry(e, i));
    });
    this.items.sort((a, b) => a.t - b.t);
    for (const it of this.items)
      this.paid.add(it.entry.wallet + SEP + destinationKey(it.entry.chain, it.entry.destination));
  }

  get size(): number {
    return this.items.length;
  }

  /** Appends a signed withdrawal (any order; in-order appends are O(1) per grouping). */
  add(entry: LedgerEntry): void {
    const it = parseEntry(entry, this.items.length);
    const last = this.items[this.items.length - 1];
    if (!last || last.t <= it.t) this.items.push(it);
    else
      this.items.splice(
        lowerBound(
          this.items.map((x) => x.t),
          it.t + 1,
        ),
        0,
        it,
      );
    this.paid.add(entry.wallet + SEP + destinationKey(entry.chain, entry.destination));
    for (const [spec, series] of this.groupings) {
      const fields = spec.split(',') as LedgerField[];
      const k = groupKey(fields, entry);
      let s = series.get(k);
      if (!s) {
        s = { times: [], prefix: [0n] };
        series.set(k, s);
      }
      insertIntoSeries(s, it.t, it.amount);
    }
  }

  /** Whether `wallet` has ever paid `destination` on `chain` (the `firstTime` condition). */
  hasPaid(wallet: string, chain: string, destination: string): boolean {
    return this.paid.has(wallet + SEP + destinationKey(chain, destination));
  }

  /** Sum and count of entries in the group of `probe` stamped at or after `sinceMs`. */
  usage(
    fields: readonly LedgerField[],
    probe: { wallet: string; asset: string; chain: string; destination: string; requestedBy: string },
    sinceMs: number,
  ): { sum: bigint; count: number } {
    const series = this.grouping(fields).get(groupKey(fields, probe));
    if (!series) return { sum: 0n, count: 0 };
    const i = lowerBound(series.times, sinceMs);
    return { sum: series.prefix[series.times.length]! - series.prefix[i]!, count: series.times.length - i };
  }

  private grouping(fields: readonly LedgerField[]): Map<string, Series> {
    const hit = this.bySpecArray.get(fields);
    if (hit) return hit;
    const spec = fields.join(',');
    let g = this.groupings.get(spec);
    if (!g) {
      g = new Map();
      for (const it of this.items) {
        const k = groupKey(fields, it.entry);
        let s = g.get(k);
        if (!s) {
          s = { times: [], prefix: [0n] };
          g.set(k, s);
        }
        s.times.push(it.t);
        s.prefix.push(s.prefix[s.prefix.length - 1]! + it.amount);
      }
      this.groupings.set(spec, g);
    }
    this.bySpecArray.set(fields, g);
    return g;
  }
}

function insertIntoSeries(s: Series, t: number, amount: bigint): void {
  const n = s.times.length;
  if (n === 0 || s.times[n - 1]! <= t) {
    s.times.push(t);
    s.prefix.push(s.prefix[n]! + amount);
    return;
  }
  const i = lowerBound(s.times, t + 1);
  s.times.splice(i, 0, t);
  // prefix[k] stays for k <= i; the new entry's prefix is prefix[i] + amount; later ones shift by amount.
  s.prefix.splice(i + 1, 0, s.prefix[i]! + amount);
  for (let k = i + 2; k < s.prefix.length; k++) s.prefix[k] = s.prefix[k]! + amount;
}
