import { AddressBookIndex } from '../addressbook/index.ts';
import { CustosError } from '../errors/base.ts';
import type { Intent } from '../intent/schema.ts';
import { LedgerIndex, normaliseDestination } from './ledger.ts';
import { evaluateLimits } from './limits.ts';
import type { Policy } from './load.ts';
import { findLookalike, type LookalikeCandidate } from './lookalike.ts';
import { type Facts, matchRule } from './match.ts';
import type {
  AddressBookEntry,
  ApprovalRequirement,
  AssetInfo,
  AssetRegistry,
  Decision,
  Finding,
  LedgerEntry,
  Requester,
  ScreeningStatus,
} from './types.ts';

/**
 * Everything outside the intent that the decision depends on. Deterministic: nothing is read from
 * a clock, a database or the network — the same policy, intent and context always give the same
 * decision, so an auditor (or a co-signer with its own ledger) can replay it.
 */
export interface EvalContext {
  /** RFC 3339 UTC */
  now: string;
  requester: Requester;
  /** default `transfer` */
  operation?: string;
  addressBook: readonly AddressBookEntry[] | AddressBookIndex;
  /** signed withdrawals; pass a LedgerIndex in hot paths (an array is indexed per call) */
  ledger: readonly LedgerEntry[] | LedgerIndex;
  /** base-unit balances keyed `${wallet}|${asset}` */
  balances?: Record<string, string>;
  screening: ScreeningStatus;
  /** which lists hit, for the trace */
  screeningLists?: string[];
  assets: AssetRegistry;
  /** look-alike candidates beyond the address book (recent destinations of this wallet) */
  recentDestinations?: readonly string[];
}

const SCREENING = new Set(['clear', 'hit', 'unavailable']);
const BASE_UNITS_RE = /^(0|[1-9][0-9]{0,77})$/;

let lastNow = '';
let lastNowMs = Number.NaN;
/** Date.parse with a one-entry memo: a batch of evaluations usually shares one `now`. */
function parseNow(now: string): number {
  if (now !== lastNow) {
    lastNowMs = Date.parse(now);
    lastNow = now;
  }
  return lastNowMs;
}

function refuse(
  policy: Policy,
  findings: Finding[],
  reasons: string[],
  rule: string | null = null,
): Decision {
  return { decision: 'block', rule, delayMs: 0, limits: [], findings, reasons, policyDigest: policy.digest };
}

function assetInfo(policy: Policy, ctx: EvalContext, asset: string): AssetInfo | Finding {
  const fromPolicy = policy.compiled.assets.get(asset);
  const fromContext = ctx.assets && Object.hasOwn(ctx.assets, asset) ? ctx.assets[asset] : undefined;
  if (fromPolicy && fromContext) {
    if (fromPolicy.decimals !== fromContext.decimals || fromPolicy.symbol !== fromContext.symbol) {
      // The signed policy and the caller disagree on what "1 unit" is: refuse rather than pick one.
      return {
        code: 'ASSET_REGISTRY_CONFLICT',
        message: `asset ${asset} is ${fromPolicy.symbol}/${fromPolicy.decimals} in the policy but ${fromContext.symbol}/${fromContext.decimals} in the registry`,
        details: { asset },
      };
    }
  }
  const info = fromPolicy ?? fromContext;
  if (!info || !Number.isInteger(info.decimals) || info.decimals < 0 || info.decimals > 36) {
    return {
      code: 'UNKNOWN_ASSET',
      message: `asset ${asset} is not in the asset registry`,
      details: { asset },
    };
  }
  return info;
}

function mergeApproval(
  current: ApprovalRequirement | undefined,
  extra: ApprovalRequirement,
): ApprovalRequirement {
  // One requirement is enforced: the one asking for more signatures (ties keep the rule's).
  if (!current || extra.quorum > current.quorum) return extra;
  return current;
}

export function evaluate(policy: Policy, intent: Intent, context: EvalContext): Decision {
  const findings: Finding[] = [];
  const reasons: string[] = [];
  const nowMs = parseNow(context.now);
  if (!Number.isFinite(nowMs) || !SCREENING.has(context.screening)) {
    findings.push({ code: 'INVALID_CONTEXT', message: 'context.now or context.screening is invalid' });
    return refuse(policy, findings, ['evaluation context is invalid']);
  }
  if (typeof intent.amount !== 'string' || !BASE_UNITS_RE.test(intent.amount) || intent.amount === '0') {
    // evaluate() expects a parsed intent; an unparsed one is refused, never half-evaluated.
    findings.push({
      code: 'INVALID_INTENT',
      message: 'intent amount is not a positive integer in base units',
    });
    return refuse(policy, findings, ['the intent is not valid']);
  }
  const asset = assetInfo(policy, context, intent.asset);
  if ('code' in asset) {
    findings.push(asset);
    return refuse(policy, findings, [asset.message]);
  }
  let ledger: LedgerIndex;
  try {
    ledger = context.ledger instanceof LedgerIndex ? context.ledger : new LedgerIndex(context.ledger);
  } catch (e) {
    const message = e instanceof CustosError ? e.message : String(e);
    findings.push({ code: 'LEDGER_INVALID', message });
    return refuse(policy, findings, ['the velocity ledger could not be read']);
  }
  const book =
    context.addressBook instanceof AddressBookIndex
      ? context.addressBook
      : new AddressBookIndex(context.addressBook);
  const floor = policy.compiled.cooldownFloorMs;
  const destinationNorm = normaliseDestination(intent.chain, intent.destination);
  const known = book.known(intent.chain, intent.destination, nowMs, floor, destinationNorm);
  const balanceText = context.balances?.[`${intent.wallet}|${intent.asset}`];
  const balance =
    balanceText !== undefined && BASE_UNITS_RE.test(balanceText) ? BigInt(balanceText) : undefined;

  if (context.screening === 'hit') {
    findings.push({
      code: 'SCREENING_HIT',
      message: 'destination is on a screening list',
      details: { destination: intent.destination, lists: context.screeningLists ?? [] },
    });
  } else if (context.screening === 'unavailable') {
    findings.push({ code: 'SCREENING_UNAVAILABLE', message: 'screening could not be completed' });
  }
  let lookalike = false;
  if (!known) {
    findings.push({
      code: 'DESTINATION_UNKNOWN',
      message: 'destination is not an active address-book entry',
    });
    // Candidates: the address book on this chain, the caller's recent destinations, and the
    // wallet's own recent payees from the ledger (what a poisoner imitates).
    const given = context.recentDestinations ?? [];
    const paid = ledger.recentDestinations(intent.wallet, intent.chain);
    const recent = paid.length === 0 ? given : given.length === 0 ? paid : [...given, ...paid];
    const onChain = book.onChain(intent.chain);
    const candidates: ReadonlyArray<string | LookalikeCandidate> =
      recent.length === 0 ? onChain : [...onChain, ...recent];
    const f = findLookalike(intent.destination, intent.chain, candidates);
    if (f) {
      lookalike = true;
      const mimics = f.details?.mimics;
      findings.push({
        ...f,
        details: {
          ...f.details,
          source: given.includes(mimics as string)
            ? 'recent'
            : paid.includes(mimics as string)
              ? 'ledger'
              : 'addressBook',
        },
      });
    }
  }
  const firstTime = !ledger.hasPaid(intent.wallet, intent.chain, intent.destination, destinationNorm);
  if (firstTime)
    findings.push({ code: 'FIRST_TIME_DESTINATION', message: 'this wallet has never paid this destination' });

  const facts: Facts = {
    intent,
    nowMs,
    amount: BigInt(intent.amount),
    asset,
    operation: context.operation ?? 'transfer',
    requester: context.requester,
    screening: context.screening,
    known,
    destinationNorm,
    firstTime,
    lookalike,
    balance,
    localTimes: undefined,
  };

  let decision: Decision['decision'] = 'block';
  let rule: string | null = null;
  let quorum: ApprovalRequirement | undefined;
  let delayMs = 0;
  for (const r of policy.compiled.candidates(facts.operation, intent.wallet)) {
    const m = matchRule(r, facts);
    if (m === false) continue;
    if (m !== true) {
      findings.push(m);
      return refuse(policy, findings, [`rule ${r.name} cannot be evaluated: ${m.message}`], r.name);
    }
    rule = r.name;
    decision = r.action;
    delayMs = r.delayMs;
    if (r.approve) quorum = r.approve;
    reasons.push(r.reasonText);
    break;
  }
  if (rule === null) reasons.push('no rule matched: default deny');

  const lim = evaluateLimits(policy.compiled.limits, facts, ledger);
  if (lim.blocking.length > 0) {
    findings.push(...lim.blocking);
    return {
      ...refuse(policy, findings, [...reasons, ...lim.blocking.map((f) => f.message)], rule),
      limits: lim.usage,
    };
  }
  if (decision !== 'block') {
    for (const name of lim.blockedBy) {
      decision = 'block';
      reasons.push(`limit ${name} exceeded: block`);
    }
  }
  if (decision !== 'block') {
    for (const e of lim.escalations) {
      decision = 'approve';
      quorum = mergeApproval(quorum, e.approve);
      delayMs = Math.max(delayMs, e.delayMs);
      reasons.push(
        `limit ${e.limit} exceeded: approval (${e.approve.quorum} of ${e.approve.from.join(', ')})`,
      );
    }
  }
  const out: Decision = {
    decision,
    rule,
    delayMs: decision === 'block' ? 0 : delayMs,
    limits: lim.usage,
    findings,
    reasons,
    policyDigest: policy.digest,
  };
  if (decision === 'approve' && quorum) out.quorum = quorum;
  return out;
}
