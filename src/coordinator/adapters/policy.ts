import { pushTo } from '../../core/collections.ts';
import type { PrincipalSet } from '../../core/identity/principal-set.ts';
import type { Intent } from '../../core/intent/index.ts';
import { evaluate } from '../../core/policy/evaluate.ts';
import type { Policy } from '../../core/policy/load.ts';
import type { AddressBookEntry, LedgerEntry } from '../../core/policy/types.ts';
import type { ScreeningProvider } from '../../core/screening/types.ts';
import type { Queryable } from '../../store/db.ts';
import type { PolicyPort, WorkflowDecision } from '../workflow/ports.ts';

/** Longest limit window the coordinator's ledger has to cover (limits are at most 31 days). */
const LEDGER_HORIZON_MS = 31 * 24 * 3600 * 1000;

export interface PolicyAdapterDeps {
  db: Queryable;
  policy: () => Policy;
  principals: () => PrincipalSet;
  addressBook: (chain: string, now: string) => Promise<AddressBookEntry[]>;
  screening?: ScreeningProvider;
  /**
   * Whether the trust bundle names screening lists. Without a provider the answer is then
   * `unavailable` (the policy decides, usually block); with no lists named it is `clear` — the
   * same rule the co-signers apply, so both sides reach the same decision.
   */
  screeningRequired?: () => boolean;
}

/**
 * The coordinator's policy pre-check: src/core/policy `evaluate` with facts from the
 * coordinator's own store. Its ledger is every intent that reached signing (an intent that may
 * have been signed counts against limits, so a failed broadcast cannot be used to double a limit).
 * The co-signers evaluate again with their own ledgers; this answer only routes the workflow.
 */
export function policyAdapter(d: PolicyAdapterDeps): PolicyPort {
  const evaluateMany = async (intents: readonly Intent[], nowDate: Date): Promise<WorkflowDecision[]> => {
    const now = nowDate.toISOString();
    const policy = d.policy();
    const principals = d.principals();
    const horizonMs = ledgerHorizonMs(policy);
    const since = new Date(nowDate.getTime() - horizonMs).toISOString();
    const chains = [...new Set(intents.map((i) => i.chain))];
    // Facts shared by the batch are read once: one address book per chain, one ledger query for
    // all the wallets; screening per destination, in parallel.
    const [books, ledgers, screenings] = await Promise.all([
      Promise.all(chains.map((c) => d.addressBook(c, now))).then(
        (b) => new Map(chains.map((c, i) => [c, b[i]!])),
      ),
      horizonMs > 0
        ? ledgerSince(d.db, [...new Set(intents.map((i) => i.wallet))], since)
        : Promise.resolve(new Map<string, LedgerEntry[]>()),
      Promise.all(intents.map((i) => d.screening?.lookup(i.chain, i.destination))),
    ]);
    return intents.map((intent, n) => {
      const screening = screenings[n];
      const decision = evaluate(policy, intent, {
        now,
        requester: { id: intent.requestedBy, roles: principals.get(intent.requestedBy)?.roles ?? [] },
        addressBook: books.get(intent.chain)!,
        ledger: ledgers.get(intent.wallet) ?? [],
        screening: screening?.status ?? (d.screeningRequired?.() === false ? 'clear' : 'unavailable'),
        ...(screening?.lists ? { screeningLists: screening.lists } : {}),
        assets: {},
      });
      return decision as unknown as WorkflowDecision;
    });
  };
  return {
    async evaluate(intent: Intent, nowDate: Date): Promise<WorkflowDecision> {
      return (await evaluateMany([intent], nowDate))[0]!;
    },
    evaluateMany,
  };
}

/**
 * How far back the ledger must go for this policy: its longest rolling window, or the whole
 * horizon when a rule asks whether a destination is paid for the first time. With neither, no
 * ledger is read at all, so a busy wallet's evaluation does not read a month of history it
 * cannot use.
 */
export function ledgerHorizonMs(policy: Policy): number {
  if (policy.compiled.rules.some((r) => r.destination?.firstTime !== undefined)) return LEDGER_HORIZON_MS;
  return Math.min(LEDGER_HORIZON_MS, Math.max(0, ...policy.compiled.limits.map((l) => l.windowMs ?? 0)));
}

/** The ledgers of many wallets (one query), by wallet. */
async function ledgerSince(
  db: Queryable,
  wallets: string[],
  since: string,
): Promise<Map<string, LedgerEntry[]>> {
  const { rows } = await db.query<{ id: string; intent_json: string; updated_at: Date | string }>(
    `SELECT i.id, i.intent_json, t.at AS updated_at FROM wf_intents i
       JOIN wf_transitions t ON t.intent_id = i.id AND t.to_state = 'signing'
     WHERE i.wallet = ANY($1::text[]) AND i.state IN ('signing', 'broadcast', 'confirmed') AND t.at >= $2`,
    [wallets, since],
  );
  const out = new Map<string, LedgerEntry[]>();
  for (const r of rows) {
    const i = JSON.parse(r.intent_json) as Intent;
    pushTo(out, i.wallet, {
      intentId: i.id,
      wallet: i.wallet,
      chain: i.chain,
      asset: i.asset,
      destination: i.destination,
      amount: i.amount,
      requestedBy: i.requestedBy,
      at: (r.updated_at instanceof Date ? r.updated_at : new Date(r.updated_at)).toISOString(),
    });
  }
  return out;
}
