import type { TxPayload } from '../../core/auth/index.ts';
import type { Queryable } from '../../store/db.ts';
import type { IntentRecord, TransitionInput } from '../../store/workflow/intents.ts';
import type { TransitionItem } from '../../store/workflow/intents-batch.ts';
import {
  type Claimed,
  intentOf,
  item,
  JOB,
  nextJob,
  type StepContext,
  type StepOutcome,
  SYSTEM,
  stepTransaction,
  UNSIGNED,
} from './engine.ts';

/**
 * Safety net of a build waiting for its wallet's slot: wakeNextBuilds normally brings the oldest
 * waiter forward, but a wake that lands while the waiter is still writing its own snooze is lost,
 * and then this bounds the delay.
 */
const WALLET_BUSY_RECHECK_MS = 5000;
/** How long a build waits when another build of the same wallet holds the lock right now. */
const BUILD_CONTENDED_MS = 200;
const WALLET_LOCK_CLASS = 1129534292;

/**
 * Freezes the unsigned transaction of each intent whose wallet is free, and moves it to signing.
 * One transaction in flight per wallet: co-signers sign only the wallet's current nonce (Safe
 * nonce / account nonce) and never two transactions for one nonce (I8), so a second intent built
 * while the first is unconfirmed would get the same nonce and be refused. The wallet's "slot" is
 * taken under a per-wallet advisory lock, in the same transaction that records the unsigned
 * transaction and moves the intent on; it frees itself when the holder reaches a final state.
 */
export async function buildMany(
  ctx: StepContext,
  claimed: Claimed[],
  now: Date,
): Promise<Map<string, StepOutcome>> {
  const out = new Map<string, StepOutcome>();
  const fails: TransitionItem[] = [];
  const elapsed: TransitionItem[] = [];
  let ready: Claimed[] = [];
  for (const c of claimed) {
    const { rec } = c;
    if (rec.state === 'delayed') {
      if (rec.notBefore && now < rec.notBefore) out.set(c.job.id, { kind: 'snooze', until: rec.notBefore });
      else {
        elapsed.push({ id: rec.id, events: [{ event: 'delay_elapsed', actor: SYSTEM }] });
        ready.push(c);
      }
    } else if (rec.state === 'building') ready.push(c);
  }
  if (elapsed.length > 0) {
    const r = await ctx.db.transaction((tx) => ctx.batch.transitionManyInTx(tx, elapsed, now));
    ready = ready.flatMap((c) => {
      if (c.rec.state === 'building') return [c];
      const moved = r.get(c.rec.id);
      return moved?.ok ? [{ job: c.job, rec: moved.value }] : [];
    });
  }
  const view = await ctx.outboxes.view(
    ready.map((c) => c.rec.id),
    undefined,
    [UNSIGNED],
  );
  // Per wallet, the oldest candidate of this batch; the others wait for the slot.
  const byWallet = new Map<string, Claimed>();
  const busyWait: StepOutcome = {
    kind: 'snooze',
    until: new Date(now.getTime() + (ctx.walletBusyPollMs ?? WALLET_BUSY_RECHECK_MS)),
  };
  for (const c of ready) {
    const { rec } = c;
    if (now >= rec.expiresAt) {
      fails.push(item(rec.id, [{ event: 'expire', actor: SYSTEM }]));
      continue;
    }
    if (!ctx.wallets.get(rec.wallet)) {
      fails.push(item(rec.id, ctx.failEvents('UNKNOWN_WALLET', 'no wallet route for this intent')));
      continue;
    }
    if (!view.get(rec.id)?.has(UNSIGNED) && !ctx.chains.get(rec.chain)) {
      const message = `no transaction builder for ${rec.chain}: refusing (fail closed)`;
      fails.push(item(rec.id, ctx.failEvents('CHAIN_UNAVAILABLE', message)));
      continue;
    }
    const first = byWallet.get(rec.wallet);
    if (!first || older(rec, first.rec)) {
      if (first) out.set(first.job.id, busyWait);
      byWallet.set(rec.wallet, c);
    } else out.set(c.job.id, busyWait);
  }
  if (fails.length > 0) {
    await ctx.db.transaction((tx) => ctx.batch.transitionManyInTx(tx, fails, now, undefined, 'refusals'));
    await ctx.wakeNextBuilds(claimed.map((c) => c.rec.wallet));
  }
  // Cheap look first, without a transaction: most waiters stop here.
  const candidates = await freeOf(ctx.db, [...byWallet.values()], out, busyWait);
  if (candidates.length === 0) return out;
  await stepTransaction(ctx, async (tx, handoffs) => {
    const frozen = await freezeInTx(ctx, tx, candidates, now, {
      existing: (id) => view.get(id)?.get(UNSIGNED)?.content as TxPayload | undefined,
    });
    const moves: TransitionItem[] = [];
    for (const c of candidates) {
      const f = frozen.get(c.rec.id)!;
      if (f.kind === 'built') moves.push({ id: c.rec.id, events: [f.event] });
      else
        out.set(
          c.job.id,
          f.kind === 'failed' ? f.outcome : f.kind === 'busy' ? busyWait : contendedWait(now),
        );
    }
    await ctx.batch.transitionManyInTx(tx, moves, now, handoffs, 'refusals');
    return moves.map((m) => m.id);
  });
  return out;
}

/** What {@link freezeInTx} did with one candidate. */
export type Freeze =
  | { kind: 'built'; event: TransitionInput }
  /** Another intent holds (or, with `waitersHold`, waits for) the wallet's slot. */
  | { kind: 'busy' }
  /** Another build of the wallet holds its lock right now. */
  | { kind: 'contended' }
  /** The chain could not build it, or the outbox refused the record: retry. */
  | { kind: 'failed'; outcome: StepOutcome };

const contendedWait = (now: Date): StepOutcome => ({
  kind: 'snooze',
  until: new Date(now.getTime() + BUILD_CONTENDED_MS),
});

/**
 * In the caller's transaction, for candidates of distinct wallets: takes each wallet's slot (its
 * advisory lock, then no other intent holding it), freezes the unsigned transaction in the outbox
 * (the one already recorded, if any: a rerun never builds different bytes) and returns each
 * frozen intent's `built` event, which enqueues its signing; the caller applies it in the same
 * transaction, so the slot is held exactly when the transaction commits. Never blocks a pooled
 * connection on another build of a wallet: one that is building right now will hold the slot when
 * it commits, so that candidate is `contended` and looks again shortly.
 *
 * `waitersHold`: an intent of the wallet still waiting for its build (`building`, nothing frozen
 * yet) holds the slot too — for an intent that has not queued for the slot yet (the evaluate
 * step building its allowed intents at once), so it never overtakes one that has.
 */
export async function freezeInTx(
  ctx: StepContext,
  tx: Queryable,
  candidates: readonly { rec: IntentRecord }[],
  now: Date,
  o: { existing?: (intentId: string) => TxPayload | undefined; waitersHold?: boolean } = {},
): Promise<Map<string, Freeze>> {
  const result = new Map<string, Freeze>();
  if (candidates.length === 0) return result;
  const { rows: locks } = await tx.query<{ wallet: string; ok: boolean }>(
    `SELECT w AS wallet, pg_try_advisory_xact_lock($2, hashtext('wallet:' || w)) AS ok
     FROM unnest($1::text[]) AS w`,
    [candidates.map((c) => c.rec.wallet), WALLET_LOCK_CLASS],
  );
  const locked = new Set(locks.filter((l) => l.ok).map((l) => l.wallet));
  const held = await heldWallets(tx, candidates, o.waitersHold ?? false);
  const live: { rec: IntentRecord }[] = [];
  for (const c of candidates) {
    if (!locked.has(c.rec.wallet)) result.set(c.rec.id, { kind: 'contended' });
    else if (held.has(c.rec.wallet)) result.set(c.rec.id, { kind: 'busy' });
    else live.push(c);
  }
  const frozen = await Promise.all(
    live.map(async (c) => {
      const existing = o.existing?.(c.rec.id);
      if (existing) return { c, payload: existing };
      try {
        return { c, payload: await ctx.chains.get(c.rec.chain)!.build(intentOf(c.rec), tx) };
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        result.set(c.rec.id, { kind: 'failed', outcome: { kind: 'retry', code: 'BUILD_FAILED', message } });
        return undefined;
      }
    }),
  );
  const built = frozen.filter((f) => f !== undefined);
  const recorded = await ctx.outboxes.recordMany(
    built.map((b) => ({ intentId: b.c.rec.id, step: UNSIGNED, content: b.payload })),
    now,
    { q: tx },
  );
  built.forEach((b, i) => {
    const r = recorded[i]!;
    if (!r.ok) {
      result.set(b.c.rec.id, {
        kind: 'failed',
        outcome: { kind: 'retry', code: r.code, message: r.message },
      });
      return;
    }
    result.set(b.c.rec.id, {
      kind: 'built',
      event: {
        event: 'built',
        actor: SYSTEM,
        details: { txDigest: r.value.contentDigest },
        enqueue: [
          nextJob(ctx.fold, {
            kind: JOB.sign,
            payload: { intentId: b.c.rec.id },
            dedupKey: `sign:${b.c.rec.id}`,
            maxAttempts: 10_000,
          }),
        ],
      },
    });
  });
  return result;
}

/**
 * The candidates whose wallet no OTHER intent holds (built, signing or broadcast); the others
 * get `wait` as their outcome. One query for the whole batch.
 */
async function freeOf(
  q: Queryable,
  candidates: Claimed[],
  out: Map<string, StepOutcome>,
  wait: StepOutcome,
): Promise<Claimed[]> {
  if (candidates.length === 0) return [];
  const busy = await heldWallets(q, candidates, false);
  return keepOr(candidates, (c) => !busy.has(c.rec.wallet), out, wait);
}

/**
 * The candidates' wallets whose slot another intent holds: built (an unsigned transaction
 * frozen), signing or broadcast — or, with `waitersHold`, also waiting in `building`.
 */
async function heldWallets(
  q: Queryable,
  candidates: readonly { rec: IntentRecord }[],
  waitersHold: boolean,
): Promise<Set<string>> {
  const { rows } = await q.query<{ wallet: string }>(
    `SELECT DISTINCT i.wallet FROM wf_intents i
     WHERE i.wallet = ANY($1::text[]) AND NOT (i.id = ANY($2::uuid[]))
       AND i.state IN ('building', 'signing', 'broadcast')
       AND ($3 OR i.state IN ('signing', 'broadcast')
            OR EXISTS (SELECT 1 FROM wf_outbox o WHERE o.intent_id = i.id AND o.step = 'unsigned_tx'))`,
    [candidates.map((c) => c.rec.wallet), candidates.map((c) => c.rec.id), waitersHold],
  );
  return new Set(rows.map((r) => r.wallet));
}

/** The candidates that pass `keep`; the others get `otherwise` as their job's outcome. */
function keepOr(
  candidates: Claimed[],
  keep: (c: Claimed) => boolean,
  out: Map<string, StepOutcome>,
  otherwise: StepOutcome,
): Claimed[] {
  const kept: Claimed[] = [];
  for (const c of candidates) {
    if (keep(c)) kept.push(c);
    else out.set(c.job.id, otherwise);
  }
  return kept;
}

const older = (a: IntentRecord, b: IntentRecord): boolean =>
  a.createdAt < b.createdAt || (a.createdAt.getTime() === b.createdAt.getTime() && a.id < b.id);
