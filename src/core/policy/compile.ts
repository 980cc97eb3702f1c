import { InvalidInputError } from '../errors/base.ts';
import type { LedgerField } from './ledger.ts';
import type { ApproveSpec, PolicyDocument, PolicyLimit, PolicyRule } from './schema.ts';
import { WEEKDAYS } from './schema.ts';
import type { ApprovalRequirement, AssetInfo } from './types.ts';
import {
  type AmountSpec,
  parseAmountSpec,
  parseDuration,
  percentToBasisPoints,
  resolveAmount,
} from './units.ts';

/**
 * A policy document turned into the data the evaluator walks: sets instead of arrays, durations in
 * milliseconds, amounts pre-parsed (unit amounts resolved per asset once, then cached).
 */
export interface CachedAmount {
  spec: AmountSpec;
  text: string;
  cache: Map<string, bigint | 'other-asset' | 'too-precise'>;
  /** one-entry memo by asset-info identity (the registry objects are long-lived) */
  lastAsset?: AssetInfo;
  lastValue?: bigint | 'other-asset' | 'too-precise';
  /** decimal text of `lastValue` when it is a bigint (limits report it on every evaluation) */
  lastText?: string;
}

export interface AmountBounds {
  lt?: CachedAmount;
  lte?: CachedAmount;
  gt?: CachedAmount;
  gte?: CachedAmount;
}

export interface PercentBounds {
  lt?: bigint;
  lte?: bigint;
  gt?: bigint;
  gte?: bigint;
}

export interface CompiledSchedule {
  timezone: string;
  /** 0 = Monday … 6 = Sunday */
  days?: Set<number>;
  fromMin?: number;
  toMin?: number;
}

export interface CompiledRule {
  name: string;
  index: number;
  action: 'allow' | 'block' | 'approve';
  reason?: string;
  /** the trace line for a match, built once */
  reasonText: string;
  approve?: ApprovalRequirement;
  delayMs: number;
  operations: Set<string>;
  wallets?: Set<string>;
  chains?: Set<string>;
  /** CAIP-19 ids and upper-cased tickers */
  assets?: Set<string>;
  initiatorIds?: Set<string>;
  initiatorRoles?: Set<string>;
  screening?: Set<string>;
  destination?: {
    category?: Set<string>;
    label?: Set<string>;
    known?: boolean;
    firstTime?: boolean;
    lookalike?: boolean;
  };
  amount?: AmountBounds;
  schedule?: CompiledSchedule;
  percent?: PercentBounds;
}

export interface CompiledLimit {
  name: string;
  wallets?: Set<string>;
  chains?: Set<string>;
  assets?: Set<string>;
  per: LedgerField[];
  /** per + asset: sums only make sense within one asset */
  sumPer: LedgerField[];
  windowText?: string;
  windowMs?: number;
  sum?: CachedAmount;
  count?: number;
  maxPercentBp?: bigint;
  onExceed: 'block' | { approve: ApprovalRequirement; delayMs: number };
}

export interface CompiledPolicy {
  rules: CompiledRule[];
  /**
   * Rules that can match a given operation and wallet, in policy order (built lazily). Skipping
   * rules whose wallet or operation condition already excludes the intent keeps an evaluation
   * proportional to the rules that could apply, not to the size of the policy.
   */
  candidates(operation: string, wallet: string): readonly CompiledRule[];
  limits: CompiledLimit[];
  assets: Map<string, AssetInfo>;
  cooldownFloorMs: number;
}

function cached(text: string | undefined): CachedAmount | undefined {
  return text === undefined ? undefined : { spec: parseAmountSpec(text), text, cache: new Map() };
}

/** Decimal text of a resolved amount, memoised with it. */
export function resolvedText(a: CachedAmount, v: bigint): string {
  if (a.spec.kind === 'base') return a.text; // schema: canonical base-unit digits
  return a.lastValue === v && a.lastText !== undefined ? a.lastText : v.toString();
}

export function resolveCached(a: CachedAmount, asset: AssetInfo): bigint | 'other-asset' | 'too-precise' {
  if (a.spec.kind === 'base') return a.spec.value;
  if (a.lastAsset === asset) return a.lastValue!;
  const k = `${asset.symbol}|${asset.decimals}`;
  let v = a.cache.get(k);
  if (v === undefined) {
    v = resolveAmount(a.spec, asset);
    a.cache.set(k, v);
  }
  a.lastAsset = asset;
  a.lastValue = v;
  a.lastText = typeof v === 'bigint' ? v.toString() : undefined;
  return v;
}

export function toApproval(a: ApproveSpec): ApprovalRequirement {
  return {
    quorum: a.quorum,
    from: [...a.from],
    distinct: a.distinct,
    excludeRequester: a.excludeRequester,
    ...(a.expiresAfter !== undefined ? { expiresAfterMs: parseDuration(a.expiresAfter) } : {}),
  };
}

const set = <T>(xs: readonly T[] | undefined): Set<T> | undefined =>
  xs === undefined ? undefined : new Set(xs);

function assetSet(xs: readonly string[] | undefined): Set<string> | undefined {
  return xs === undefined ? undefined : new Set(xs.map((a) => (a.includes(':') ? a : a.toUpperCase())));
}

function parseClock(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Validates an IANA zone name with the platform's tz database. */
export function checkTimezone(tz: string, field: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new InvalidInputError('POLICY_INVALID', field, `unknown IANA time zone ${tz}`);
  }
}

function compileRule(r: PolicyRule, index: number): CompiledRule {
  const w = r.when;
  const out: CompiledRule = {
    name: r.name,
    index,
    action: r.action,
    delayMs: r.delay === undefined ? 0 : parseDuration(r.delay),
    operations: new Set(w.operation ?? ['transfer']),
    reasonText: r.action === 'block' ? `rule ${r.name}: block: ${r.reason}` : `rule ${r.name}: ${r.action}`,
  };
  if (r.reason !== undefined) out.reason = r.reason;
  if (r.approve) out.approve = toApproval(r.approve);
  if (w.wallet) out.wallets = set(w.wallet);
  if (w.chain) out.chains = set(w.chain);
  if (w.asset) out.assets = assetSet(w.asset);
  if (w.initiator?.ids) out.initiatorIds = set(w.initiator.ids);
  if (w.initiator?.roles) out.initiatorRoles = set(w.initiator.roles);
  if (w.screening) out.screening = set(w.screening);
  if (w.destination) {
    const d = w.destination;
    out.destination = {};
    if (d.category) out.destination.category = set(d.category);
    if (d.label) out.destination.label = set(d.label);
    if (d.known !== undefined) out.destination.known = d.known;
    if (d.firstTime !== undefined) out.destination.firstTime = d.firstTime;
    if (d.lookalike !== undefined) out.destination.lookalike = d.lookalike;
  }
  if (w.amount) {
    out.amount = {};
    for (const k of ['lt', 'lte', 'gt', 'gte'] as const) {
      const c = cached(w.amount[k]);
      if (c) out.amount[k] = c;
    }
  }
  if (w.schedule) {
    const s = w.schedule;
    const sched: CompiledSchedule = { timezone: s.timezone };
    if (s.days) sched.days = new Set(s.days.map((d) => WEEKDAYS.indexOf(d)));
    if (s.hours) {
      sched.fromMin = parseClock(s.hours.from);
      sched.toMin = parseClock(s.hours.to);
    }
    out.schedule = sched;
  }
  if (w.percentOfWalletBalance) {
    out.percent = {};
    for (const k of ['lt', 'lte', 'gt', 'gte'] as const) {
      const p = w.percentOfWalletBalance[k];
      if (p !== undefined) out.percent[k] = percentToBasisPoints(p);
    }
  }
  return out;
}

function compileLimit(l: PolicyLimit): CompiledLimit {
  const per = [...new Set(l.per)] as LedgerField[];
  const out: CompiledLimit = {
    name: l.name,
    per,
    sumPer: per.includes('asset') ? per : [...per, 'asset'],
    onExceed:
      l.onExceed === 'block'
        ? 'block'
        : {
            approve: toApproval(l.onExceed.approve),
            delayMs: l.onExceed.delay === undefined ? 0 : parseDuration(l.onExceed.delay),
          },
  };
  if (l.match.wallet) out.wallets = set(l.match.wallet);
  if (l.match.chain) out.chains = set(l.match.chain);
  if (l.match.asset) out.assets = assetSet(l.match.asset);
  if (l.window !== undefined) {
    out.windowText = l.window;
    out.windowMs = parseDuration(l.window);
  }
  const sum = cached(l.sum);
  if (sum) out.sum = sum;
  if (l.count !== undefined) out.count = l.count;
  if (l.maxPercentOfBalance !== undefined) out.maxPercentBp = percentToBasisPoints(l.maxPercentOfBalance);
  return out;
}

export function compilePolicy(doc: PolicyDocument): CompiledPolicy {
  const rules = doc.rules.map(compileRule);
  const cache = new Map<string, Map<string, CompiledRule[]>>();
  let cached = 0;
  return {
    rules,
    candidates(operation, wallet) {
      let byWallet = cache.get(operation);
      let list = byWallet?.get(wallet);
      if (!list) {
        list = rules.filter((r) => r.operations.has(operation) && (!r.wallets || r.wallets.has(wallet)));
        // Bounded: wallets and operations come from intents; drop the memo rather than grow forever.
        if (++cached > 10_000) {
          cache.clear();
          cached = 1;
          byWallet = undefined;
        }
        if (!byWallet) {
          byWallet = new Map();
          cache.set(operation, byWallet);
        }
        byWallet.set(wallet, list);
      }
      return list;
    },
    limits: doc.limits.map(compileLimit),
    assets: new Map(Object.entries(doc.assets)),
    cooldownFloorMs: parseDuration(doc.settings.addressBookCooldownFloor),
  };
}
