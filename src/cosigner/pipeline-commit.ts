import type { SignatureResult } from '../core/auth/cosigner-api.ts';
import { CustosError } from '../core/errors/base.ts';
import {
  LedgerIndex,
  type LedgerProbe,
  normaliseDestination,
  RECENT_DESTINATIONS,
} from '../core/policy/ledger.ts';
import type { LedgerEntry } from '../core/policy/types.ts';
import { advisoryXactLock } from '../store/db.ts';
import { findSignedMany, findSpends, recordSignedMany, SIGN_LOCK, type SignedRecord } from './ledger.ts';
import {
  checkDecision,
  ledgerCacheOf,
  type PipelineDeps,
  type Prepared,
  Refused,
  refuse,
} from './pipeline-steps.ts';
import { signVerified } from './sign-result.ts';

/**
 * Steps 6 + 7 for one or many items that passed steps 1–5: ONE transaction under the signing lock
 * (concurrent signings are serialized), whose statements do not grow with the batch:
 *   lock · ledger rows of all intents (= ANY) · spends of all keys (= ANY) · velocity refresh ·
 *   then per item, in order: I8, velocity re-check, sign · multi-row INSERTs.
 * Items are judged in order and later items see earlier ones: the same intent twice gets the
 * first result only when byte-identical, a spend key (nonce/UTXO) already taken by an earlier item
 * is a conflict, and the velocity limits count the earlier items' amounts. The shared ledger cache
 * is never given uncommitted entries (an overlay holds them): if the transaction rolls back, the
 * cache must not remember spending that did not happen. Nothing is returned as signed unless the
 * transaction committed: an error, or the test fault before commit, fails every item.
 */
export type Committed =
  | { ok: true; repeated: boolean; result: SignatureResult }
  | { ok: false; refused: Refused };

export async function commitItems(
  deps: PipelineDeps,
  items: readonly Prepared[],
  nowMs: number,
  nowIso: string,
): Promise<Committed[]> {
  if (items.length === 0) return [];
  const cache = ledgerCacheOf(deps);
  const out = await deps.db.transaction(async (tx) => {
    await advisoryXactLock(tx, SIGN_LOCK);
    const prior = await findSignedMany(
      tx,
      items.map((i) => i.intent.id),
    );
    const spent = await findSpends(
      tx,
      items.flatMap((i) => i.verified.spendKeys),
    );
    const spentBy = new Map(spent.map((s) => [s.spendKey, s]));
    const ledger = new OverlayLedger(await cache.current(tx, nowMs));
    const inBatch = new Map<string, { digestHex: string; txDigest: string; result: SignatureResult }>();
    const takenInBatch = new Map<string, string>();
    const records: SignedRecord[] = [];
    const results: Committed[] = [];
    for (const item of items) {
      try {
        const r = await commitOne(
          deps,
          item,
          { prior, spentBy, inBatch, takenInBatch, ledger },
          nowMs,
          nowIso,
        );
        if (!r.repeated) {
          records.push(r.record);
          ledger.add(entryOf(item, nowIso));
          for (const k of item.verified.spendKeys) takenInBatch.set(k, item.intent.id);
        }
        inBatch.set(item.intent.id, { digestHex: item.digestHex, txDigest: item.txDigest, result: r.result });
        results.push({ ok: true, repeated: r.repeated, result: r.result });
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        results.push({ ok: false, refused: e });
      }
    }
    await recordSignedMany(tx, records);
    await deps.fault?.('before-commit');
    return { results, signed: records.length };
  });
  if (out.signed > 0) await deps.fault?.('after-commit');
  return out.results;
}

interface BatchState {
  prior: Map<string, { intentDigest: string; txHash: string; txKind: string; result: SignatureResult }>;
  spentBy: Map<string, { spendKey: string; intentId: string; txHash: string }>;
  inBatch: Map<string, { digestHex: string; txDigest: string; result: SignatureResult }>;
  takenInBatch: Map<string, string>;
  ledger: OverlayLedger;
}

async function commitOne(
  deps: PipelineDeps,
  item: Prepared,
  s: BatchState,
  nowMs: number,
  nowIso: string,
): Promise<
  | { repeated: true; result: SignatureResult }
  | { repeated: false; result: SignatureResult; record: SignedRecord }
> {
  const { intent, verified: v, body } = item;
  const prior = s.prior.get(intent.id);
  if (prior) {
    if (prior.intentDigest === item.digestHex && prior.txHash === v.txHash && prior.txKind === body.tx.kind)
      return { repeated: true, result: prior.result };
    refuse('ledger', {
      code: 'LEDGER_INTENT_ALREADY_SIGNED',
      message: 'this co-signer already signed a different transaction for this intent',
      details: { intentId: intent.id, signedTxHash: prior.txHash, askedTxHash: v.txHash },
    });
  }
  // The same intent earlier in this batch: only a byte-identical copy gets its result (I8).
  const twin = s.inBatch.get(intent.id);
  if (twin) {
    if (twin.digestHex === item.digestHex && twin.txDigest === item.txDigest)
      return { repeated: true, result: twin.result };
    refuse('ledger', {
      code: 'LEDGER_INTENT_ALREADY_SIGNED',
      message: 'this batch already signed a different transaction for this intent',
      details: { intentId: intent.id, askedTxHash: v.txHash },
    });
  }
  const conflicts = v.spendKeys.flatMap((k) => {
    const db = s.spentBy.get(k);
    if (db) return [db];
    const other = s.takenInBatch.get(k);
    return other ? [{ spendKey: k, intentId: other, txHash: 'in-this-batch' }] : [];
  });
  if (conflicts.length > 0)
    refuse('ledger', {
      code: 'LEDGER_SPEND_CONFLICT',
      message: 'nonce or UTXO already spent by another signed transaction',
      details: { conflicts },
    });
  // Velocity limits again, now that concurrent signings are serialized by the lock and the
  // earlier items of this batch are counted.
  const again = deps.checks.evaluatePolicy(intent, item.trust, s.ledger, nowIso);
  if (!again.ok) refuse('policy', again);
  const pol = item.policy;
  // Same decision as before the lock: the approvals and delay were already checked for it.
  if (
    again.value.decision !== pol.decision ||
    again.value.delayMs !== pol.delayMs ||
    JSON.stringify(again.value.requirement) !== JSON.stringify(pol.requirement)
  )
    checkDecision(deps, again.value, intent, body.approvals, item.trust, nowMs, nowIso);
  let result: SignatureResult;
  try {
    result = await signVerified(deps.signer, v, body.tx);
  } catch (e) {
    refuse('sign', {
      code: e instanceof CustosError ? e.code : 'SIGNING_FAILED',
      message: 'key backend failed to sign',
    });
  }
  return {
    repeated: false,
    result,
    record: {
      intent,
      intentDigest: item.digestHex,
      txKind: body.tx.kind,
      txHash: v.txHash,
      requestTxDigest: item.txDigest,
      spendKeys: v.spendKeys,
      result,
      at: nowIso,
    },
  };
}

const entryOf = (item: Prepared, at: string): LedgerEntry => ({
  intentId: item.intent.id,
  wallet: item.intent.wallet,
  chain: item.intent.chain,
  asset: item.intent.asset,
  destination: item.intent.destination,
  amount: item.intent.amount,
  requestedBy: item.intent.requestedBy,
  at,
});

/**
 * The committed velocity index plus this transaction's not-yet-committed entries. Reads combine
 * both; `add` goes to the private part only, so the shared index stays exactly what committed.
 */
export class OverlayLedger extends LedgerIndex {
  private readonly extra = new LedgerIndex();

  constructor(private readonly base: LedgerIndex) {
    super();
  }

  override get size(): number {
    return this.base.size + this.extra.size;
  }

  override add(entry: LedgerEntry): void {
    this.extra.add(entry);
  }

  override usage(
    fields: Parameters<LedgerIndex['usage']>[0],
    probe: LedgerProbe,
    sinceMs: number,
  ): { sum: bigint; count: number } {
    const a = this.base.usage(fields, probe, sinceMs);
    const b = this.extra.usage(fields, probe, sinceMs);
    return { sum: a.sum + b.sum, count: a.count + b.count };
  }

  override hasPaid(wallet: string, chain: string, destination: string, destinationNorm?: string): boolean {
    return (
      this.base.hasPaid(wallet, chain, destination, destinationNorm) ||
      this.extra.hasPaid(wallet, chain, destination, destinationNorm)
    );
  }

  override recentDestinations(wallet: string, chain: string): readonly string[] {
    const newer = this.extra.recentDestinations(wallet, chain);
    const older = this.base.recentDestinations(wallet, chain);
    if (newer.length === 0) return older;
    const seen = new Set(newer.map((d) => normaliseDestination(chain, d)));
    return [...older.filter((d) => !seen.has(normaliseDestination(chain, d))), ...newer].slice(
      -RECENT_DESTINATIONS,
    );
  }
}
