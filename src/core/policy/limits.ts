import type { CompiledLimit } from './compile.ts';
import { resolveCached, resolvedText } from './compile.ts';
import type { LedgerField, LedgerIndex } from './ledger.ts';
import { balanceUnknown, type Facts, tooPrecise } from './match.ts';
import type { ApprovalRequirement, Finding, LimitUsage } from './types.ts';

/**
 * Limits apply on top of whichever rule matched. Usage comes only from the ledger passed in (no
 * hidden state), so a co-signer re-running the evaluation on its own ledger reaches its own verdict.
 */
export interface LimitOutcome {
  usage: LimitUsage[];
  /** findings that make the intent unevaluable (missing balance, …): the caller blocks */
  blocking: Finding[];
  /** exceeded limits whose onExceed is block */
  blockedBy: string[];
  /** exceeded limits whose onExceed asks for approval */
  escalations: { limit: string; approve: ApprovalRequirement; delayMs: number }[];
}

function keyOf(fields: readonly LedgerField[], f: Facts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of fields) {
    out[k] =
      k === 'initiator' ? f.intent.requestedBy : k === 'destination' ? f.intent.destination : f.intent[k];
  }
  return out;
}

function applies(l: CompiledLimit, f: Facts): boolean {
  const i = f.intent;
  if (l.wallets && !l.wallets.has(i.wallet)) return false;
  if (l.chains && !l.chains.has(i.chain)) return false;
  if (l.assets && !l.assets.has(i.asset) && !l.assets.has(f.asset.symbol.toUpperCase())) return false;
  return true;
}

export function evaluateLimits(
  limits: readonly CompiledLimit[],
  f: Facts,
  ledger: LedgerIndex,
): LimitOutcome {
  const out: LimitOutcome = { usage: [], blocking: [], blockedBy: [], escalations: [] };
  const probe = {
    wallet: f.intent.wallet,
    asset: f.intent.asset,
    chain: f.intent.chain,
    destination: f.intent.destination,
    requestedBy: f.intent.requestedBy,
    destinationNorm: f.destinationNorm,
  };
  for (const l of limits) {
    if (!applies(l, f)) continue;
    let exceeded = false;
    if (l.windowMs !== undefined) {
      // Window (now − w, now]: entries stamped after now still count (clock skew must not hide spend).
      const since = f.nowMs - l.windowMs + 1;
      if (l.count !== undefined) {
        const used = ledger.usage(l.per, probe, since).count;
        const over = used + 1 > l.count;
        exceeded ||= over;
        out.usage.push({
          limit: l.name,
          kind: 'count',
          window: l.windowText!,
          used: String(used),
          max: String(l.count),
          wouldBe: String(used + 1),
          exceeded: over,
          key: keyOf(l.per, f),
        });
      }
      if (l.sum) {
        const max = resolveCached(l.sum, f.asset);
        if (max === 'too-precise') out.blocking.push(tooPrecise(l.name, l.sum.text, f));
        else if (max !== 'other-asset') {
          const used = ledger.usage(l.sumPer, probe, since).sum;
          const wouldBe = used + f.amount;
          const over = wouldBe > max;
          exceeded ||= over;
          out.usage.push({
            limit: l.name,
            kind: 'sum',
            window: l.windowText!,
            used: used.toString(),
            max: resolvedText(l.sum, max),
            wouldBe: wouldBe.toString(),
            exceeded: over,
            key: keyOf(l.sumPer, f),
          });
        }
      }
    }
    if (l.maxPercentBp !== undefined) {
      if (f.balance === undefined) out.blocking.push(balanceUnknown(l.name, f));
      else {
        // Basis points of balance this withdrawal would take, rounded up (never under-reports).
        const bp = f.balance === 0n ? -1n : (f.amount * 10_000n + f.balance - 1n) / f.balance;
        const over = f.amount * 10_000n > l.maxPercentBp * f.balance;
        exceeded ||= over;
        out.usage.push({
          limit: l.name,
          kind: 'percentOfBalance',
          window: 'single',
          used: '0',
          max: l.maxPercentBp.toString(),
          wouldBe: bp < 0n ? 'infinite' : bp.toString(),
          exceeded: over,
          key: keyOf(['wallet', 'asset'], f),
        });
      }
    }
    if (exceeded) {
      if (l.onExceed === 'block') out.blockedBy.push(l.name);
      else out.escalations.push({ limit: l.name, approve: l.onExceed.approve, delayMs: l.onExceed.delayMs });
    }
  }
  return out;
}
