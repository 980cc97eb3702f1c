import type { TxPayload } from '../../core/auth/index.ts';
import { type Intent, parseIntent } from '../../core/intent/index.ts';
import type { Db, Queryable } from '../../store/db.ts';
import type { AlertStore } from '../../store/workflow/alerts.ts';
import type { ApprovalStore } from '../../store/workflow/approvals.ts';
import type { AuditAppender } from '../../store/workflow/audit-port.ts';
import {
  fromRow,
  type IntentRecord,
  type IntentRow,
  type IntentStore,
  type TransitionInput,
} from '../../store/workflow/intents.ts';
import { IntentBatch, type TransitionItem } from '../../store/workflow/intents-batch.ts';
import { type Outbox, OutboxBatch, type OutboxView } from '../../store/workflow/outbox.ts';
import type { EnqueueInput, Job, JobOutcome } from '../../store/workflow/queue.ts';
import type { CosignerPort } from '../cosigner-client.ts';
import type { ChainPort, PolicyPort, WalletRoute, WorkflowDecision, WorkflowMetrics } from './ports.ts';
import { broadcastMany, confirmMany, signMany } from './sign-steps.ts';

/**
 * The workflow's background steps, one per job kind, each run on a BATCH of claimed jobs with a
 * fixed number of statements per batch (reads with `= ANY`, one transaction of multi-row writes):
 * per-intent round trips were what bounded throughput. Every step first re-reads its intents and
 * does nothing for one that is not in the state the step belongs to, so a job that runs twice
 * (lease expired, process killed after the effect but before completing the job) is harmless;
 * effects outside the database go through the outbox so a rerun repeats the same bytes, never new
 * ones. Within a batch, intents are independent: one intent's failure never fails another.
 */
export type StepOutcome = JobOutcome;

export const JOB = {
  evaluate: 'evaluate',
  build: 'build',
  sign: 'sign',
  broadcast: 'broadcast',
  confirm: 'confirm',
} as const;

export const SYSTEM = 'coordinator';
export const DONE: StepOutcome = { kind: 'done' };
export const UNSIGNED = 'unsigned_tx';
/**
 * Safety net of a build waiting for its wallet's slot: wakeNextBuilds normally brings the oldest
 * waiter forward, but a wake that lands while the waiter is still writing its own snooze is lost,
 * and then this bounds the delay.
 */
const WALLET_BUSY_RECHECK_MS = 5000;
/** How long a build waits when another build of the same wallet holds the lock right now. */
const BUILD_CONTENDED_MS = 200;
const WALLET_LOCK_CLASS = 1129534292;

export interface EngineDeps {
  db: Db;
  intents: IntentStore;
  /** The audit log the batched transitions stage their entries in (same as IntentStore's). */
  audit: AuditAppender;
  outbox: Outbox;
  approvals: ApprovalStore;
  alerts: AlertStore;
  wallets: { get(id: string): WalletRoute | undefined };
  cosigners: ReadonlyMap<string, CosignerPort>;
  chains: ReadonlyMap<string, ChainPort>;
  policy?: PolicyPort;
  clock: () => Date;
  metrics?: WorkflowMetrics;
  /** Test-only pause points (multi-process crash tests); see config `faultInjection`. */
  fault?: (point: 'before-broadcast' | 'after-broadcast', rec: IntentRecord) => Promise<void>;
  /** How long a build waits while another intent holds the wallet's nonce. */
  walletBusyPollMs?: number;
  /** How long to wait before re-checking a broadcast transaction. */
  confirmPollMs?: number;
}

export const evaluateJob = (intentId: string): EnqueueInput => ({
  kind: JOB.evaluate,
  payload: { intentId },
  dedupKey: `evaluate:${intentId}`,
});

/** A claimed job with its intent as read at the start of the batch. */
export interface Claimed {
  job: Job;
  rec: IntentRecord;
}

/** Everything the step functions share: deps plus the batch stores. */
export interface StepContext extends EngineDeps {
  batch: IntentBatch;
  outboxes: OutboxBatch;
  /** Fail events for one intent (typed code, in the failure column and history). */
  failEvents(code: string, message: string, details?: Record<string, unknown>): TransitionInput[];
  wakeNextBuilds(wallets: Iterable<string>, q?: Queryable): Promise<void>;
}

export class WorkflowEngine {
  private readonly ctx: StepContext;

  constructor(private readonly d: EngineDeps) {
    this.ctx = {
      ...d,
      batch: new IntentBatch(d.audit),
      outboxes: new OutboxBatch(d.db),
      failEvents: (code, message, details) => [
        { event: 'fail', actor: SYSTEM, failure: { code, message, ...(details ? { details } : {}) } },
      ],
      wakeNextBuilds: (wallets, q) => this.wakeNextBuilds(wallets, q),
    };
  }

  /** One job (tests, `custos demo`): the batch path with a batch of one. */
  async handle(job: Job): Promise<StepOutcome> {
    return (await this.handleBatch(job.kind, [job])).get(job.id) ?? DONE;
  }

  /** Runs one kind's step on many claimed jobs; returns each job's outcome by job id. */
  async handleBatch(kind: string, jobs: readonly Job[]): Promise<Map<string, StepOutcome>> {
    const out = new Map<string, StepOutcome>();
    const recs = await this.load(jobs.map((j) => String(j.payload.intentId)));
    const claimed: Claimed[] = [];
    for (const job of jobs) {
      const rec = recs.get(String(job.payload.intentId));
      if (rec) claimed.push({ job, rec });
      else out.set(job.id, DONE);
    }
    if (claimed.length === 0) return out;
    const now = this.d.clock();
    let results: Map<string, StepOutcome>;
    switch (kind) {
      case JOB.evaluate:
        results = await this.evaluate(claimed, now);
        break;
      case JOB.build:
        results = await this.build(claimed, now);
        break;
      case JOB.sign:
        results = await signMany(this.ctx, claimed, now);
        break;
      case JOB.broadcast:
        results = await broadcastMany(this.ctx, claimed, now);
        break;
      case JOB.confirm:
        results = await confirmMany(this.ctx, claimed, now);
        break;
      default:
        for (const c of claimed)
          out.set(c.job.id, { kind: 'retry', code: 'UNKNOWN_JOB', message: `no handler for ${kind}` });
        return out;
    }
    for (const c of claimed) out.set(c.job.id, results.get(c.job.id) ?? DONE);
    return out;
  }

  private async load(ids: string[], q: Queryable = this.d.db): Promise<Map<string, IntentRecord>> {
    const { rows } = await q.query<IntentRow>('SELECT * FROM wf_intents WHERE id = ANY($1::uuid[])', [ids]);
    return new Map(rows.map((r) => [r.id, fromRow(r)]));
  }

  /** Moves an intent to `failed` with a typed code (ignored if it already moved on). */
  async failIntent(rec: IntentRecord, code: string, message: string, details?: Record<string, unknown>) {
    const r = await this.d.db.transaction((tx) =>
      this.ctx.batch.transitionManyInTx(
        tx,
        [{ id: rec.id, events: this.ctx.failEvents(code, message, details) }],
        this.d.clock(),
      ),
    );
    await this.wakeNextBuilds([rec.wallet]);
    return r.get(rec.id)!;
  }

  /**
   * These wallets' slots may be free again (their holder is final): bring each one's oldest
   * waiting build forward instead of having every waiter poll (a transaction per waiter per
   * interval). One statement for any number of wallets.
   */
  async wakeNextBuilds(wallets: Iterable<string>, q: Queryable = this.d.db): Promise<void> {
    const list = [...new Set(wallets)];
    if (list.length === 0) return;
    const now = this.d.clock().toISOString();
    await q.query(
      `UPDATE wf_jobs SET run_at = $2, updated_at = $2
       WHERE status = 'queued' AND kind = 'build' AND run_at > $2 AND dedup_key IN (
         SELECT DISTINCT ON (i.wallet) 'build:' || i.id FROM wf_intents i
         WHERE i.wallet = ANY($1::text[]) AND i.state IN ('building', 'delayed')
         ORDER BY i.wallet, i.created_at, i.id)`,
      [list, now],
    );
  }

  /** Policy for each intent in `requested`; allowed ones go straight on to building (or a delay). */
  private async evaluate(claimed: Claimed[], now: Date): Promise<Map<string, StepOutcome>> {
    const items: TransitionItem[] = [];
    const due: IntentRecord[] = [];
    for (const { rec } of claimed) {
      if (rec.state !== 'requested') continue;
      if (now >= rec.expiresAt) items.push(item(rec.id, [{ event: 'expire', actor: SYSTEM }]));
      else due.push(rec);
    }
    const decided = await this.decide(due, now);
    for (const [i, rec] of due.entries()) items.push(item(rec.id, decided[i]!));
    await this.d.db.transaction((tx) => this.ctx.batch.transitionManyInTx(tx, items, now));
    return new Map();
  }

  /** The policy's decision for each intent, as the events that follow from it. */
  private async decide(recs: IntentRecord[], now: Date): Promise<TransitionInput[][]> {
    if (recs.length === 0) return [];
    const policy = this.d.policy;
    if (!policy) {
      const message = 'no policy engine is configured: refusing (fail closed)';
      return recs.map(() => this.ctx.failEvents('POLICY_UNAVAILABLE', message));
    }
    const t0 = performance.now();
    let decisions: (WorkflowDecision | Error)[];
    try {
      const intents = recs.map(intentOf);
      decisions = policy.evaluateMany
        ? await policy.evaluateMany(intents, now)
        : await Promise.all(intents.map((i) => policy.evaluate(i, now).catch((e: unknown) => toError(e))));
    } catch (e) {
      decisions = recs.map(() => toError(e));
    }
    const seconds = (performance.now() - t0) / 1000 / recs.length;
    return recs.map((rec, i) => {
      const decision = decisions[i]!;
      if (decision instanceof Error) return this.ctx.failEvents('POLICY_ERROR', decision.message);
      this.d.metrics?.decisionSeconds(seconds);
      if (decision.decision === 'block') {
        const message = decision.reasons.join('; ') || 'blocked by policy';
        const failure = { code: 'POLICY_BLOCKED', message };
        return [{ event: 'policy_blocked', actor: 'policy', decision, failure }];
      }
      if (decision.decision === 'approve')
        return [{ event: 'policy_requires_approval', actor: 'policy', decision }];
      return [
        { event: 'policy_allowed', actor: 'policy', decision },
        ...this.afterApprovedEvents(rec.id, decision, now),
      ];
    });
  }

  /** approved → delayed (time lock) or building, in the caller's transaction. */
  async afterApprovedInTx(
    tx: Queryable,
    rec: IntentRecord,
    decision: WorkflowDecision,
    now: Date,
  ): Promise<void> {
    await this.ctx.batch.transitionManyInTx(
      tx,
      [{ id: rec.id, events: this.afterApprovedEvents(rec.id, decision, now) }],
      now,
    );
  }

  private afterApprovedEvents(id: string, decision: WorkflowDecision, now: Date): TransitionInput[] {
    const buildJob = (runAt?: Date): EnqueueInput => ({
      kind: JOB.build,
      payload: { intentId: id },
      dedupKey: `build:${id}`,
      ...(runAt ? { runAt } : {}),
    });
    if (decision.delayMs > 0) {
      const notBefore = new Date(now.getTime() + decision.delayMs);
      return [{ event: 'delay_started', actor: 'policy', notBefore, enqueue: [buildJob(notBefore)] }];
    }
    return [{ event: 'build_started', actor: SYSTEM, enqueue: [buildJob()] }];
  }

  /**
   * Freezes the unsigned transaction of each intent whose wallet is free, and moves it to signing.
   * One transaction in flight per wallet: co-signers sign only the wallet's current nonce (Safe
   * nonce / account nonce) and never two transactions for one nonce (I8), so a second intent built
   * while the first is unconfirmed would get the same nonce and be refused. The wallet's "slot" is
   * taken under a per-wallet advisory lock, in the same transaction that records the unsigned
   * transaction and moves the intent on; it frees itself when the holder reaches a final state.
   */
  private async build(claimed: Claimed[], now: Date): Promise<Map<string, StepOutcome>> {
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
      const r = await this.d.db.transaction((tx) => this.ctx.batch.transitionManyInTx(tx, elapsed, now));
      ready = ready.flatMap((c) => {
        if (c.rec.state === 'building') return [c];
        const moved = r.get(c.rec.id);
        return moved?.ok ? [{ job: c.job, rec: moved.value }] : [];
      });
    }
    const view = await this.ctx.outboxes.view(ready.map((c) => c.rec.id));
    // Per wallet, the oldest candidate of this batch; the others wait for the slot.
    const byWallet = new Map<string, Claimed>();
    const busyWait: StepOutcome = {
      kind: 'snooze',
      until: new Date(now.getTime() + (this.d.walletBusyPollMs ?? WALLET_BUSY_RECHECK_MS)),
    };
    for (const c of ready) {
      const { rec } = c;
      if (now >= rec.expiresAt) {
        fails.push(item(rec.id, [{ event: 'expire', actor: SYSTEM }]));
        continue;
      }
      if (!this.d.wallets.get(rec.wallet)) {
        fails.push(item(rec.id, this.ctx.failEvents('UNKNOWN_WALLET', 'no wallet route for this intent')));
        continue;
      }
      if (!view.get(rec.id)?.has(UNSIGNED) && !this.d.chains.get(rec.chain)) {
        const message = `no transaction builder for ${rec.chain}: refusing (fail closed)`;
        fails.push(item(rec.id, this.ctx.failEvents('CHAIN_UNAVAILABLE', message)));
        continue;
      }
      const first = byWallet.get(rec.wallet);
      if (!first || older(rec, first.rec)) {
        if (first) out.set(first.job.id, busyWait);
        byWallet.set(rec.wallet, c);
      } else out.set(c.job.id, busyWait);
    }
    if (fails.length > 0) {
      await this.d.db.transaction((tx) => this.ctx.batch.transitionManyInTx(tx, fails, now));
      await this.wakeNextBuilds(claimed.map((c) => c.rec.wallet));
    }
    // Cheap look first, without a transaction: most waiters stop here.
    let candidates = await this.freeOf(this.d.db, [...byWallet.values()], out, busyWait);
    if (candidates.length === 0) return out;
    await this.d.db.transaction(async (tx) => {
      // Never block a pooled connection on another build of a wallet: one that is building right
      // now will hold the slot when it commits, so look again shortly.
      const { rows: locks } = await tx.query<{ wallet: string; ok: boolean }>(
        `SELECT w AS wallet, pg_try_advisory_xact_lock($2, hashtext('wallet:' || w)) AS ok
         FROM unnest($1::text[]) AS w`,
        [candidates.map((c) => c.rec.wallet), WALLET_LOCK_CLASS],
      );
      const locked = new Set(locks.filter((l) => l.ok).map((l) => l.wallet));
      const contended: StepOutcome = { kind: 'snooze', until: new Date(now.getTime() + BUILD_CONTENDED_MS) };
      candidates = candidates.filter((c) => locked.has(c.rec.wallet) || !out.set(c.job.id, contended));
      candidates = await this.freeOf(tx, candidates, out, busyWait);
      const frozen = await Promise.all(
        candidates.map(async (c) => {
          const existing = view.get(c.rec.id)?.get(UNSIGNED);
          if (existing) return { c, payload: existing.content as TxPayload };
          try {
            return { c, payload: await this.d.chains.get(c.rec.chain)!.build(intentOf(c.rec), tx) };
          } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            out.set(c.job.id, { kind: 'retry', code: 'BUILD_FAILED', message });
            return undefined;
          }
        }),
      );
      const built = frozen.filter((f) => f !== undefined);
      const recorded = await this.ctx.outboxes.recordMany(
        built.map((b) => ({ intentId: b.c.rec.id, step: UNSIGNED, content: b.payload })),
        now,
        { q: tx },
      );
      const moves: TransitionItem[] = [];
      built.forEach((b, i) => {
        const r = recorded[i]!;
        if (!r.ok) {
          out.set(b.c.job.id, { kind: 'retry', code: r.code, message: r.message });
          return;
        }
        moves.push({
          id: b.c.rec.id,
          events: [
            {
              event: 'built',
              actor: SYSTEM,
              details: { txDigest: r.value.contentDigest },
              enqueue: [
                {
                  kind: JOB.sign,
                  payload: { intentId: b.c.rec.id },
                  dedupKey: `sign:${b.c.rec.id}`,
                  maxAttempts: 10_000,
                },
              ],
            },
          ],
        });
      });
      await this.ctx.batch.transitionManyInTx(tx, moves, now);
    });
    return out;
  }

  /**
   * The candidates whose wallet no OTHER intent holds (built, signing or broadcast); the others
   * get `wait` as their outcome. One query for the whole batch.
   */
  private async freeOf(
    q: Queryable,
    candidates: Claimed[],
    out: Map<string, StepOutcome>,
    wait: StepOutcome,
  ): Promise<Claimed[]> {
    if (candidates.length === 0) return [];
    const { rows } = await q.query<{ wallet: string }>(
      `SELECT DISTINCT i.wallet FROM wf_intents i
       WHERE i.wallet = ANY($1::text[]) AND NOT (i.id = ANY($2::uuid[]))
         AND i.state IN ('building', 'signing', 'broadcast')
         AND (i.state IN ('signing', 'broadcast')
              OR EXISTS (SELECT 1 FROM wf_outbox o WHERE o.intent_id = i.id AND o.step = 'unsigned_tx'))`,
      [candidates.map((c) => c.rec.wallet), candidates.map((c) => c.rec.id)],
    );
    const busy = new Set(rows.map((r) => r.wallet));
    return candidates.filter((c) => !busy.has(c.rec.wallet) || !out.set(c.job.id, wait));
  }

  /** Expiry sweep: intents past expiresAt that no signature can still be asked for. */
  async expireDue(limit = 100): Promise<number> {
    const now = this.d.clock();
    const ids = await this.d.intents.expiredCandidates(now, limit);
    if (ids.length === 0) return 0;
    const r = await this.d.db.transaction((tx) =>
      this.ctx.batch.transitionManyInTx(
        tx,
        ids.map((id) => ({ id, events: [{ event: 'expire', actor: SYSTEM }] })),
        now,
      ),
    );
    const expired = [...r.values()].flatMap((x) => (x.ok ? [x.value] : []));
    await this.wakeNextBuilds(expired.map((x) => x.wallet));
    return expired.length;
  }
}

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

const item = (id: string, events: TransitionInput[]): TransitionItem => ({ id, events });

const older = (a: IntentRecord, b: IntentRecord): boolean =>
  a.createdAt < b.createdAt || (a.createdAt.getTime() === b.createdAt.getTime() && a.id < b.id);

export const intentOf = (rec: IntentRecord): Intent => parseIntent(JSON.parse(rec.intentJson));

export type { Intent, OutboxView };
