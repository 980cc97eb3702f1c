import { InvalidInputError } from '../errors/base.ts';
import type { LedgerEntry } from './types.ts';

/**
 * The velocity ledger, indexed for rolling-window queries.
 *
 * For every grouping (e.g. wallet+asset) it keeps, per key, the entry times in ascending order and
 * the prefix sums of their amounts, so `sum`/`count` over any window is one binary search and one
 * subtraction — an evaluation never scans the ledger (100 000 entries would cost ~1 ms each).
 * Groups are nested maps keyed by the field values themselves (no key strings are built per
 * query), destinations by chain and then by normalised address.
 *
 * Entries at or after the window start are counted, including entries stamped in the future (a
 * skewed clock must not hide spending from a limit).
 */
export type LedgerField = 'wallet' | 'asset' | 'destination' | 'initiator' | 'chain';

export interface LedgerProbe {
  wallet: string;
  asset: string;
  chain: string;
  destination: string;
  requestedBy: string;
  /** normaliseDestination(chain, destination), if the caller already computed it */
  destinationNorm?: string;
}

interface Series {
  times: number[];
  /** prefix[i] = sum of the amounts of the first i entries (prefix.length = times.length + 1) */
  prefix: bigint[];
}

type Node = Map<string, Node | Series>;

interface Indexed {
  t: number;
  amount: bigint;
  entry: LedgerEntry;
}

/** EVM addresses are case-insensitive (EIP-55 case is only a checksum); Bitcoin's are not. */
export function normaliseDestination(chain: string, destination: string): string {
  return chain.startsWith('eip155:') ? destination.toLowerCase() : destination;
}

/** One string naming a destination on a chain (for callers that need a flat key). */
export function destinationKey(chain: string, destination: string): string {
  return `${chain}\u0000${normaliseDestination(chain, destination)}`;
}

/** How many recent destinations per wallet and chain are kept as look-alike candidates. */
export const RECENT_DESTINATIONS = 64;

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

/** Walks (and with `create`, builds) the nested maps down to the series of `p`'s group. */
function seriesFor(
  root: Node,
  fields: readonly LedgerField[],
  p: LedgerProbe,
  create: boolean,
): Series | undefined {
  let node: Node = root;
  const last = fields.length - 1;
  for (let i = 0; i <= last; i++) {
    const f = fields[i]!;
    let key: string;
    if (f === 'destination') {
      // two levels: chain, then the normalised address
      let c = node.get(p.chain) as Node | undefined;
      if (!c) {
        if (!create) return undefined;
        c = new Map();
        node.set(p.chain, c);
      }
      node = c;
      key = p.destinationNorm ?? normaliseDestination(p.chain, p.destination);
    } else {
      key = f === 'wallet' ? p.wallet : f === 'asset' ? p.asset : f === 'chain' ? p.chain : p.requestedBy;
    }
    const next = node.get(key);
    if (i === last) {
      if (next) return next as Series;
      if (!create) return undefined;
      const s: Series = { times: [], prefix: [0n] };
      node.set(key, s);
      return s;
    }
    if (next) node = next as Node;
    else {
      if (!create) return undefined;
      const n: Node = new Map();
      node.set(key, n);
      node = n;
    }
  }
  return undefined;
}

function probeOf(e: LedgerEntry): LedgerProbe {
  return e;
}

export class LedgerIndex {
  private readonly items: Indexed[] = [];
  private readonly groupings = new Map<string, { fields: readonly LedgerField[]; root: Node }>();
  private readonly bySpecArray = new WeakMap<readonly LedgerField[], Node>();
  /** wallet → chain → normalised destination */
  private readonly paid = new Map<string, Map<string, Set<string>>>();
  /** wallet → chain → the most recently paid distinct destinations (as written), newest last */
  private readonly recent = new Map<string, Map<string, { addresses: string[]; keys: string[] }>>();

  constructor(entries: readonly LedgerEntry[] = []) {
    entries.forEach((e, i) => {
      this.items.push(parseEntry(e, i));
    });
    this.items.sort((a, b) => a.t - b.t);
    for (const it of this.items) this.markPaid(it.entry);
  }

  get size(): number {
    return this.items.length;
  }

  private markPaid(e: LedgerEntry): void {
    let w = this.paid.get(e.wallet);
    if (!w) {
      w = new Map();
      this.paid.set(e.wallet, w);
    }
    let c = w.get(e.chain);
    if (!c) {
      c = new Set();
      w.set(e.chain, c);
    }
    const norm = normaliseDestination(e.chain, e.destination);
    c.add(norm);
    let rw = this.recent.get(e.wallet);
    if (!rw) {
      rw = new Map();
      this.recent.set(e.wallet, rw);
    }
    let list = rw.get(e.chain);
    if (!list) {
      list = { addresses: [], keys: [] };
      rw.set(e.chain, list);
    }
    const at = list.keys.lastIndexOf(norm);
    if (at >= 0) {
      list.keys.splice(at, 1);
      list.addresses.splice(at, 1);
    }
    list.keys.push(norm);
    list.addresses.push(e.destination);
    if (list.keys.length > RECENT_DESTINATIONS) {
      list.keys.shift();
      list.addresses.shift();
    }
  }

  /**
   * The last RECENT_DESTINATIONS distinct destinations this wallet paid on this chain, oldest
   * first: address poisoning mimics exactly these (the victim copies from its own history), so
   * the evaluator uses them as look-alike candidates. With out-of-order `add()`s the order is
   * by arrival.
   */
  recentDestinations(wallet: string, chain: string): readonly string[] {
    return this.recent.get(wallet)?.get(chain)?.addresses ?? [];
  }

  /** Appends a signed withdrawal (any order; in-order appends are O(1) per grouping). */
  add(entry: LedgerEntry): void {
    const it = parseEntry(entry, this.items.length);
    const last = this.items[this.items.length - 1];
    if (!last || last.t <= it.t) this.items.push(it);
    else {
      let lo = 0;
      let hi = this.items.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.items[mid]!.t <= it.t) lo = mid + 1;
        else hi = mid;
      }
      this.items.splice(lo, 0, it);
    }
    this.markPaid(entry);
    for (const { fields, root } of this.groupings.values()) {
      insertIntoSeries(seriesFor(root, fields, probeOf(entry), true)!, it.t, it.amount);
    }
  }

  /** Whether `wallet` has ever paid `destination` on `chain` (the `firstTime` condition). */
  hasPaid(wallet: string, chain: string, destination: string, destinationNorm?: string): boolean {
    return (
      this.paid
        .get(wallet)
        ?.get(chain)
        ?.has(destinationNorm ?? normaliseDestination(chain, destination)) ?? false
    );
  }

  /** Sum and count of entries in the group of `probe` stamped at or after `sinceMs`. */
  usage(fields: readonly LedgerField[], probe: LedgerProbe, sinceMs: number): { sum: bigint; count: number } {
    const series = seriesFor(this.grouping(fields), fields, probe, false);
    if (!series) return { sum: 0n, count: 0 };
    const n = series.times.length;
    const i = lowerBound(series.times, sinceMs);
    return { sum: i === 0 ? series.prefix[n]! : series.prefix[n]! - series.prefix[i]!, count: n - i };
  }

  private grouping(fields: readonly LedgerField[]): Node {
    const hit = this.bySpecArray.get(fields);
    if (hit) return hit;
    const spec = fields.join(',');
    let g = this.groupings.get(spec);
    if (!g) {
      g = { fields: [...fields], root: new Map() };
      for (const it of this.items) {
        const s = seriesFor(g.root, g.fields, probeOf(it.entry), true)!;
        s.times.push(it.t);
        s.prefix.push(s.prefix[s.prefix.length - 1]! + it.amount);
      }
      this.groupings.set(spec, g);
    }
    this.bySpecArray.set(fields, g.root);
    return g.root;
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
