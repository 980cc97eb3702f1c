import type { CompiledRule } from './compile.ts';
import type { Policy } from './load.ts';
import type { ApproveSpec, Conditions, PolicyRule } from './schema.ts';
import { type AmountSpec, decimalToBaseUnits, parseAmountSpec } from './units.ts';

/**
 * Semantic checks beyond the schema: rules that can never match (an empty range, or after a rule
 * that matches everything they match), approvals that no set of approvers can satisfy, thresholds
 * the asset table cannot express. Conservative: "shadowed" is reported only when it is certain.
 */
export interface LintIssue {
  severity: 'error' | 'warning';
  code:
    | 'RULE_UNREACHABLE'
    | 'RULE_SHADOWED'
    | 'QUORUM_UNREACHABLE'
    | 'QUORUM_NEEDS_REQUESTER'
    | 'GROUPS_UNDECLARED'
    | 'AMOUNT_UNIT_UNKNOWN'
    | 'AMOUNT_TOO_PRECISE'
    | 'NO_SCREENING_BLOCK'
    | 'SUM_ACROSS_ASSETS';
  /** rule or limit name */
  subject?: string;
  message: string;
}

type Bound = { v: bigint; unit: string; strict: boolean };
type Interval = { lo?: Bound; hi?: Bound };

/** Puts base units and "d TICKER" on comparable scales (same unit only). */
function scaled(spec: AmountSpec): { v: bigint; unit: string } {
  if (spec.kind === 'base') return { v: spec.value, unit: '' };
  return { v: decimalToBaseUnits(spec.decimal, 36)!, unit: spec.symbol };
}

function interval(a: Conditions['amount'] | Conditions['percentOfWalletBalance']): Interval | undefined {
  if (!a) return undefined;
  const out: Interval = {};
  const get = (x: string | number) =>
    typeof x === 'number' ? { v: BigInt(Math.round(x * 100)), unit: '%' } : scaled(parseAmountSpec(x));
  const tighterLo = (b: Bound) => {
    if (!out.lo || b.v > out.lo.v || (b.v === out.lo.v && b.strict)) out.lo = b;
  };
  const tighterHi = (b: Bound) => {
    if (!out.hi || b.v < out.hi.v || (b.v === out.hi.v && b.strict)) out.hi = b;
  };
  if (a.gt !== undefined) tighterLo({ ...get(a.gt), strict: true });
  if (a.gte !== undefined) tighterLo({ ...get(a.gte), strict: false });
  if (a.lt !== undefined) tighterHi({ ...get(a.lt), strict: true });
  if (a.lte !== undefined) tighterHi({ ...get(a.lte), strict: false });
  return out;
}

function units(i: Interval): Set<string> {
  return new Set([i.lo?.unit, i.hi?.unit].filter((u): u is string => u !== undefined));
}

function empty(i: Interval | undefined): boolean {
  if (!i?.lo || !i.hi || units(i).size !== 1) return false;
  if (i.lo.v > i.hi.v) return true;
  return i.lo.v === i.hi.v && (i.lo.strict || i.hi.strict);
}

/** Whether interval `outer` contains `inner` (only decided when both use one and the same unit). */
function contains(outer: Interval | undefined, inner: Interval | undefined): boolean {
  if (!outer) return true;
  if (!inner) return false;
  const u = new Set([...units(outer), ...units(inner)]);
  if (u.size !== 1) return false;
  if (outer.lo) {
    if (!inner.lo) return false;
    if (inner.lo.v < outer.lo.v || (inner.lo.v === outer.lo.v && outer.lo.strict && !inner.lo.strict))
      return false;
  }
  if (outer.hi) {
    if (!inner.hi) return false;
    if (inner.hi.v > outer.hi.v || (inner.hi.v === outer.hi.v && outer.hi.strict && !inner.hi.strict))
      return false;
  }
  return true;
}

function subset<T>(inner: readonly T[] | undefined, outer: readonly T[] | undefined): boolean {
  if (outer === undefined) return true;
  if (inner === undefined) return false;
  return inner.every((x) => outer.includes(x));
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Every intent matched by `later` is also matched by `earlier`. */
export function covers(earlier: PolicyRule, later: PolicyRule): boolean {
  const e = earlier.when;
  const l = later.when;
  if (!subset(l.operation ?? ['transfer'], e.operation ?? ['transfer'])) return false;
  if (!subset(l.wallet, e.wallet) || !subset(l.chain, e.chain) || !subset(l.asset, e.asset)) return false;
  if (!subset(l.screening, e.screening)) return false;
  if (e.initiator) {
    if (!l.initiator) return false;
    if (l.initiator.ids && !subset(l.initiator.ids, e.initiator.ids)) return false;
    if (l.initiator.roles && !subset(l.initiator.roles, e.initiator.roles)) return false;
  }
  if (e.destination) {
    const ed = e.destination;
    const ld = l.destination ?? {};
    for (const k of ['known', 'firstTime', 'lookalike'] as const) {
      if (ed[k] !== undefined && ed[k] !== ld[k]) return false;
    }
    if (!subset(ld.category, ed.category) || !subset(ld.label, ed.label)) return false;
  }
  if (e.amount && !contains(interval(e.amount), interval(l.amount))) return false;
  if (
    e.percentOfWalletBalance &&
    !contains(interval(e.percentOfWalletBalance), interval(l.percentOfWalletBalance))
  ) {
    return false;
  }
  if (e.schedule && !sameJson(e.schedule, l.schedule)) return false;
  return true;
}

function isCatchAll(r: PolicyRule): boolean {
  return Object.keys(r.when).filter((k) => k !== 'operation').length === 0;
}

function checkApproval(policy: Policy, a: ApproveSpec, subject: string, issues: LintIssue[]): void {
  const groups = policy.document.groups;
  if (!groups) {
    issues.push({
      severity: 'warning',
      code: 'GROUPS_UNDECLARED',
      subject,
      message: `${subject}: approver groups are not declared in the policy, so the quorum cannot be checked`,
    });
    return;
  }
  const members = new Set(a.from.flatMap((g) => groups[g]?.members ?? []));
  if (members.size < a.quorum) {
    issues.push({
      severity: 'error',
      code: 'QUORUM_UNREACHABLE',
      subject,
      message: `${subject}: quorum ${a.quorum} but only ${members.size} distinct approvers in ${a.from.join(', ')}`,
    });
  } else if (a.excludeRequester && members.size - 1 < a.quorum) {
    issues.push({
      severity: 'warning',
      code: 'QUORUM_NEEDS_REQUESTER',
      subject,
      message: `${subject}: when the requester is one of the ${members.size} approvers, the other ${members.size - 1} cannot reach quorum ${a.quorum}`,
    });
  }
}

function checkAmounts(
  policy: Policy,
  subject: string,
  texts: (string | undefined)[],
  issues: LintIssue[],
): void {
  const assets = Object.values(policy.document.assets);
  for (const t of texts) {
    if (t === undefined) continue;
    const s = parseAmountSpec(t);
    if (s.kind !== 'unit') continue;
    const decl = assets.filter((a) => a.symbol.toUpperCase() === s.symbol);
    if (decl.length === 0) {
      issues.push({
        severity: 'warning',
        code: 'AMOUNT_UNIT_UNKNOWN',
        subject,
        message: `${subject}: ${t}: ${s.symbol} is not in the policy's assets table (it will be resolved from the runtime registry)`,
      });
    } else if (decl.some((a) => decimalToBaseUnits(s.decimal, a.decimals) === undefined)) {
      issues.push({
        severity: 'error',
        code: 'AMOUNT_TOO_PRECISE',
        subject,
        message: `${subject}: ${t} has more decimals than ${s.symbol}`,
      });
    }
  }
}

export function lintPolicy(policy: Policy): LintIssue[] {
  const issues: LintIssue[] = [];
  const rules = policy.document.rules;
  rules.forEach((r, i) => {
    const subject = `rule ${r.name}`;
    const emptyRange =
      empty(interval(r.when.amount)) ||
      empty(interval(r.when.percentOfWalletBalance)) ||
      (r.when.schedule?.hours !== undefined && r.when.schedule.hours.from === r.when.schedule.hours.to);
    if (emptyRange) {
      issues.push({
        severity: 'error',
        code: 'RULE_UNREACHABLE',
        subject: r.name,
        message: `${subject}: its conditions can never all hold`,
      });
    } else {
      for (let j = 0; j < i; j++) {
        const e = rules[j]!;
        if (!covers(e, r)) continue;
        issues.push(
          isCatchAll(e)
            ? {
                severity: 'error',
                code: 'RULE_UNREACHABLE',
                subject: r.name,
                message: `${subject}: unreachable, rule ${e.name} before it matches everything`,
              }
            : {
                severity: 'error',
                code: 'RULE_SHADOWED',
                subject: r.name,
                message: `${subject}: shadowed by rule ${e.name}, which matches every intent it matches`,
              },
        );
        break;
      }
    }
    if (r.approve) checkApproval(policy, r.approve, subject, issues);
    checkAmounts(
      policy,
      subject,
      [r.when.amount?.lt, r.when.amount?.lte, r.when.amount?.gt, r.when.amount?.gte],
      issues,
    );
  });
  for (const l of policy.document.limits) {
    const subject = `limit ${l.name}`;
    if (typeof l.onExceed === 'object') checkApproval(policy, l.onExceed.approve, subject, issues);
    checkAmounts(policy, subject, [l.sum], issues);
    if (l.sum !== undefined && parseAmountSpec(l.sum).kind === 'base' && !(l.match.asset?.length === 1)) {
      issues.push({
        severity: 'warning',
        code: 'SUM_ACROSS_ASSETS',
        subject: l.name,
        message: `${subject}: a base-unit sum applies to every asset with the same number, whatever its decimals; name one asset or use a ticker`,
      });
    }
  }
  const blocksHits = policy.compiled.rules.some(
    (r: CompiledRule) =>
      r.action === 'block' &&
      r.screening?.has('hit') &&
      Object.keys(policy.document.rules[r.index]!.when).length === 1,
  );
  if (!blocksHits) {
    issues.push({
      severity: 'warning',
      code: 'NO_SCREENING_BLOCK',
      message:
        'no rule blocks on screening alone: a listed destination could be paid if another rule allows it',
    });
  }
  return issues;
}
