import type { Intent } from '../intent/schema.ts';
import { type AmountBounds, type CompiledRule, type CompiledSchedule, resolveCached } from './compile.ts';
import type { AddressBookEntry, AssetInfo, Finding, Requester } from './types.ts';

/** Everything about one intent the conditions look at, computed once per evaluation. */
export interface Facts {
  intent: Intent;
  nowMs: number;
  amount: bigint;
  asset: AssetInfo;
  operation: string;
  requester: Requester;
  screening: string;
  known: AddressBookEntry | undefined;
  /** the destination as the ledger and address book key it (lower-case for EVM) */
  destinationNorm: string;
  firstTime: boolean;
  lookalike: boolean;
  /** undefined = not in the context (a %-condition then blocks) */
  balance: bigint | undefined;
  localTimes: Map<string, { day: number; minute: number }> | undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const DAY_INDEX: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** Weekday (0 = Monday) and minute of day of an instant in an IANA zone (DST-aware, via Intl). */
export function localTime(nowMs: number, timezone: string): { day: number; minute: number } {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timezone, f);
  }
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(new Date(nowMs))) {
    if (p.type === 'weekday') day = DAY_INDEX[p.value] ?? 0;
    else if (p.type === 'hour') hour = Number(p.value);
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { day, minute: hour * 60 + minute };
}

function inSchedule(s: CompiledSchedule, f: Facts): boolean {
  f.localTimes ??= new Map();
  let t = f.localTimes.get(s.timezone);
  if (!t) {
    t = localTime(f.nowMs, s.timezone);
    f.localTimes.set(s.timezone, t);
  }
  if (s.days && !s.days.has(t.day)) return false;
  if (s.fromMin !== undefined && s.toMin !== undefined) {
    // [from, to); from > to wraps past midnight (e.g. 22:00–06:00).
    if (s.fromMin <= s.toMin) return t.minute >= s.fromMin && t.minute < s.toMin;
    return t.minute >= s.fromMin || t.minute < s.toMin;
  }
  return true;
}

function tooPrecise(rule: string, text: string, f: Facts): Finding {
  return {
    code: 'POLICY_AMOUNT_TOO_PRECISE',
    message: `rule ${rule}: amount ${text} has more decimals than ${f.asset.symbol} (${f.asset.decimals})`,
    details: { rule, amount: text },
  };
}

function amountMatches(b: AmountBounds, rule: string, f: Facts): boolean | Finding {
  for (const k of ['lt', 'lte', 'gt', 'gte'] as const) {
    const c = b[k];
    if (!c) continue;
    const v = resolveCached(c, f.asset);
    if (v === 'other-asset') return false; // "30000 ETH" says nothing about a BTC withdrawal
    if (v === 'too-precise') return tooPrecise(rule, c.text, f);
    const a = f.amount;
    if (k === 'lt' ? !(a < v) : k === 'lte' ? !(a <= v) : k === 'gt' ? !(a > v) : !(a >= v)) return false;
  }
  return true;
}

function balanceUnknown(rule: string, f: Facts): Finding {
  return {
    code: 'BALANCE_UNKNOWN',
    message: `rule ${rule} needs the balance of ${f.intent.wallet} in ${f.intent.asset}, which was not provided`,
    details: { rule, wallet: f.intent.wallet, asset: f.intent.asset },
  };
}

/**
 * Whether `rule` matches. A Finding means the rule cannot be evaluated for this intent (missing
 * balance, a threshold finer than the asset's decimals): the evaluator then blocks.
 * Cheap set lookups run first; the %-of-balance check runs last so a missing balance only blocks
 * when every other condition of the rule already matched.
 */
export function matchRule(r: CompiledRule, f: Facts): boolean | Finding {
  // Operation and wallet are pre-filtered by CompiledPolicy.candidates; re-checked for direct callers.
  if (!r.operations.has(f.operation)) return false;
  const i = f.intent;
  if (r.wallets && !r.wallets.has(i.wallet)) return false;
  if (r.chains && !r.chains.has(i.chain)) return false;
  if (r.assets && !r.assets.has(i.asset) && !r.assets.has(f.asset.symbol.toUpperCase())) return false;
  if (r.initiatorIds || r.initiatorRoles) {
    const byId = r.initiatorIds?.has(f.requester.id) ?? false;
    const byRole = r.initiatorRoles ? f.requester.roles.some((x) => r.initiatorRoles!.has(x)) : false;
    if (!byId && !byRole) return false;
  }
  if (r.screening && !r.screening.has(f.screening)) return false;
  const d = r.destination;
  if (d) {
    if (d.known !== undefined && d.known !== (f.known !== undefined)) return false;
    if (d.firstTime !== undefined && d.firstTime !== f.firstTime) return false;
    if (d.lookalike !== undefined && d.lookalike !== f.lookalike) return false;
    if (d.category && !(f.known && d.category.has(f.known.category))) return false;
    if (d.label && !(f.known && d.label.has(f.known.label))) return false;
  }
  if (r.amount) {
    const m = amountMatches(r.amount, r.name, f);
    if (m !== true) return m;
  }
  if (r.schedule && !inSchedule(r.schedule, f)) return false;
  if (r.percent) {
    if (f.balance === undefined) return balanceUnknown(r.name, f);
    // amount / balance compared with bp / 10 000, in integers: amount·10 000 ⋚ bp·balance.
    const lhs = f.amount * 10_000n;
    const p = r.percent;
    const bal = f.balance;
    if (p.lt !== undefined && !(lhs < p.lt * bal)) return false;
    if (p.lte !== undefined && !(lhs <= p.lte * bal)) return false;
    if (p.gt !== undefined && !(lhs > p.gt * bal)) return false;
    if (p.gte !== undefined && !(lhs >= p.gte * bal)) return false;
  }
  return true;
}

export { balanceUnknown, tooPrecise };
