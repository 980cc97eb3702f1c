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
import {
  completeManyInTx,
  type EnqueueInput,
  type Job,
  type JobOutcome,
} from '../../store/workflow/queue.ts';
import type { CosignerPort } from '../cosigner-client.ts';
import { buildMany, freezeInTx } from './build-step.ts';
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

/**
 * A worker that runs the next step of this batch's intents itself: the next jobs are inserted
 * already claimed by it (lease until `until`), in the same transaction as the transition that
 * calls for them, and handed back to it instead of being claimed from the queue.
 */
export interface Fold {
  worker: string;
  until: Date;
}

/**
 * A batch's outcomes by job id, the next jobs it inserted claimed for its worker, and the jobs it
 * already marked done in its own transaction (the worker does not settle those again).
 */
export interface BatchRun {
  outcomes: Map<string, StepOutcome>;
  handoffs: Job[];
  completed: Set<string>;
}

/** Everything the step functions share: deps plus the batch stores. */
export interface StepContext extends EngineDeps {
  batch: IntentBatch;
  outboxes: OutboxBatch;
  /** Set when the worker continues this batch's intents itself (see Fold). */
  fold?: Fold;
  /** Next jobs inserted claimed for this worker, added once their transaction committed. */
  handoffs: Job[];
  /** This batch's job of each intent (by intent id). */
  jobOf: Map<string, Job>;
  /** Jobs marked done in a step transaction that committed (see {@link stepTransaction}). */
  completed: Set<string>;
  /** Fail events for one intent (typed code, in the failure column and history). */
  failEvents(code: string, message: string, details?: Record<string, unknown>): TransitionInput[];
  wakeNextBuilds(wallets: Iterable<string>): Promise<void>;
  /** When this process last saw a new block of `chain` (ms), if it watches that chain. */
  lastBlockAt(chain: string): number | undefined;
}

export class WorkflowEngine {
  private readonly ctx: StepContext;
  /** Per chain: when this process's watchtower last saw a new block (see noteNewBlock). */
  private readonly blockSeenAt = new Map<string, number>();

  constructor(private readonly d: EngineDeps) {
    this.ctx = {
      ...d,
      batch: new IntentBatch(d.audit),
      outboxes: new OutboxBatch(d.db),
      handoffs: [],
      jobOf: new Map(),
      completed: new Set(),
      failEvents: (code, message, details) => [
        { event: 'fail', actor: SYSTEM, failure: { code, message, ...(details ? { details } : {}) } },
      ],
      wakeNextBuilds: (wallets) => this.wakeNextBuilds(wallets),
      lastBlockAt: (chain) => this.blockSeenAt.get(chain),
    };
  }

  /** One job (tests, `custos demo`): the batch path with a batch of one. */
  async handle(job: Job): Promise<StepOutcome> {
    return (await this.handleBatch(job.kind, [job])).get(job.id) ?? DONE;
  }

  /** Runs one kind's step on many claimed jobs; returns each job's outcome by job id. */
  async handleBatch(kind: string, jobs: readonly Job[]): Promise<Map<string, StepOutcome>> {
    return (await this.runBatch(kind, jobs)).outcomes;
  }

  /**
   * {@link handleBatch}, and with `fold` the next step's jobs of the intents that moved on are
   * inserted claimed by the calling worker and returned as `handoffs` for it to run next: a
   * claim statement and a queue round trip fewer per step, the same durable job either way.
   */
  async runBatch(kind: string, jobs: readonly Job[], fold?: Fold): Promise<BatchRun> {
    const ctx: StepContext = {
      ...this.ctx,
      handoffs: [],
      jobOf: new Map(),
      completed: new Set(),
      ...(fold ? { fold } : {}),
    };
    const out = new Map<string, StepOutcome>();
    const run: BatchRun = { outcomes: out, handoffs: ctx.handoffs, completed: ctx.completed };
    const recs = await this.load(jobs.map((j) => String(j.payload.intentId)));
    const claimed: Claimed[] = [];
    for (const job of jobs) {
      const rec = recs.get(String(job.payload.intentId));
      if (rec) {
        claimed.push({ job, rec });
        ctx.jobOf.set(rec.id, job);
      } else out.set(job.id, DONE);
    }
    if (claimed.length === 0) return run;
    const now = this.d.clock();
    let results: Map<string, StepOutcome>;
    switch (kind) {
      case JOB.evaluate:
        results = await this.evaluate(ctx, claimed, now);
        break;
      case JOB.build:
        results = await buildMany(ctx, claimed, now);
        break;
      case JOB.sign:
        results = await signMany(ctx, claimed, now);
        break;
      case JOB.broadcast:
        results = await broadcastMany(ctx, claimed, now);
        break;
      case JOB.confirm:
        results = await confirmMany(ctx, claimed, now);
        break;
      default:
        for (const c of claimed)
          out.set(c.job.id, { kind: 'retry', code: 'UNKNOWN_JOB', message: `no handler for ${kind}` });
        return run;
    }
    for (const c of claimed) out.set(c.job.id, results.get(c.job.id) ?? DONE);
    return run;
  }

  private async load(ids: string[], q: Queryable = this.d.db): Promise<Map<string, IntentRecord>> {
    const { rows } = await q.query<IntentRow>(STEP_COLUMNS, [ids]);
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
  async wakeNextBuilds(wallets: Iterable<string>): Promise<void> {
    const list = [...new Set(wallets)];
    if (list.length === 0) return;
    const now = this.d.clock().toISOString();
    // A hint: committed without waiting for a flush (its own transaction on the pool; lost in a
    // crash, the waiter's safety-net poll still finds the free slot).
    await this.d.db.query(
      `WITH nosync AS (SELECT set_config('synchronous_commit', 'off', true))
       UPDATE wf_jobs SET run_at = $2, updated_at = $2 FROM nosync
       WHERE status = 'queued' AND kind = 'build' AND run_at > $2 AND dedup_key IN (
         SELECT DISTINCT ON (i.wallet) 'build:' || i.id FROM wf_intents i
         WHERE i.wallet = ANY($1::text[]) AND i.state IN ('building', 'delayed')
         ORDER BY i.wallet, i.created_at, i.id)`,
      [list, now],
    );
  }

  /**
   * This process's watchtower saw a new block of `chain`. A confirmation batch that was already
   * running (its jobs claimed, so {@link wakeConfirms} cannot bring them forward) re-checks the
   * ones still pending at once instead of after `confirmPollMs`.
   */
  noteNewBlock(chain: string): void {
    this.blockSeenAt.set(chain, this.d.clock().getTime());
  }

  /**
   * A new block of `chain` was seen: the confirmation checks of its broadcast intents are due now
   * instead of at their next poll (`confirmPollMs` becomes a fallback, not the pace: between
   * blocks a receipt cannot appear, and a check per poll was a job update and a receipt lookup per
   * intent per poll). One statement; returns how many checks it brought forward.
   */
  async wakeConfirms(chain: string): Promise<number> {
    const now = this.d.clock().toISOString();
    const { rows } = await this.d.db.query<{ n: string | number }>(
      // Driven by the snoozed confirm jobs (wf_jobs_ready_kind), each checked by its intent's
      // primary key: not a scan of every intent in `broadcast` per job. A hint, committed without
      // waiting for a flush (lost in a crash, the confirm poll still runs each job).
      `WITH nosync AS (SELECT set_config('synchronous_commit', 'off', true)),
       woken AS (
         UPDATE wf_jobs j SET run_at = $2, updated_at = $2 FROM nosync
         WHERE j.status = 'queued' AND j.kind = 'confirm' AND j.run_at > $2
           AND EXISTS (SELECT 1 FROM wf_intents i
                       WHERE i.id = (j.payload->>'intentId')::uuid AND i.chain = $1 AND i.state = 'broadcast')
         RETURNING 1)
       SELECT count(*) AS n FROM woken`,
      [chain, now],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Policy for each intent in `requested`; allowed ones go straight on to building (or a delay). */
  private async evaluate(ctx: StepContext, claimed: Claimed[], now: Date): Promise<Map<string, StepOutcome>> {
    const items: TransitionItem[] = [];
    const due: IntentRecord[] = [];
    for (const { rec } of claimed) {
      if (rec.state !== 'requested') continue;
      if (now >= rec.expiresAt) items.push(item(rec.id, [{ event: 'expire', actor: SYSTEM }]));
      else due.push(rec);
    }
    const decided = await this.decide(ctx, due, now);
    // Allowed without a delay: built in this same transaction when the wallet's slot is free (a
    // build job, its claim and settlement, an intent update and a commit fewer per withdrawal);
    // one intent per wallet, and never ahead of an intent already waiting for that wallet.
    const buildNow = new Map<string, IntentRecord>();
    for (const [i, rec] of due.entries()) {
      const events = decided[i]!;
      items.push(item(rec.id, events));
      if (
        events.at(-1)?.event === 'build_started' &&
        !buildNow.has(rec.wallet) &&
        ctx.wallets.get(rec.wallet) &&
        ctx.chains.get(rec.chain)
      )
        buildNow.set(rec.wallet, rec);
    }
    await stepTransaction(ctx, async (tx, handoffs) => {
      const frozen = await freezeInTx(
        ctx,
        tx,
        [...buildNow.values()].map((rec) => ({ rec })),
        now,
        { waitersHold: true },
      );
      const final = items.map((it) => {
        const f = frozen.get(it.id);
        if (f?.kind !== 'built') return it;
        // The build job is not needed: the intent leaves `building` in this transaction.
        const started = { ...it.events.at(-1)!, enqueue: [] };
        return item(it.id, [...it.events.slice(0, -1), started, f.event]);
      });
      await ctx.batch.transitionManyInTx(tx, final, now, handoffs, 'refusals');
      return items.map((i) => i.id);
    });
    return new Map();
  }

  /** The policy's decision for each intent, as the events that follow from it. */
  private async decide(ctx: StepContext, recs: IntentRecord[], now: Date): Promise<TransitionInput[][]> {
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
        ...this.afterApprovedEvents(rec.id, decision, now, ctx.fold),
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
      undefined,
      'refusals',
    );
  }

  private afterApprovedEvents(
    id: string,
    decision: WorkflowDecision,
    now: Date,
    fold?: Fold,
  ): TransitionInput[] {
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
    return [{ event: 'build_started', actor: SYSTEM, enqueue: [nextJob(fold, buildJob())] }];
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

/** The next step's job, claimed by the batch's worker when it continues the intents itself. */
export const nextJob = (fold: Fold | undefined, job: EnqueueInput): EnqueueInput =>
  fold ? { ...job, claim: fold } : job;

/**
 * A step's closing transaction. `write` records the batch's effects and transitions (next jobs
 * inserted claimed for this worker go to `handoffs`) and returns the intents whose step is over;
 * their jobs are marked done in the same transaction, not in a statement and commit of their own
 * afterwards. Once it committed, and only then (never a job a rollback undid), the handoffs and
 * completed jobs join the batch's run.
 */
export async function stepTransaction(
  ctx: StepContext,
  write: (tx: Queryable, handoffs: Job[]) => Promise<Iterable<string>>,
): Promise<void> {
  const handoffs: Job[] = [];
  let done: string[] = [];
  await ctx.db.transaction(async (tx) => {
    const finished = [...(await write(tx, handoffs))];
    const jobs = finished.flatMap((id) => {
      const job = ctx.jobOf.get(id);
      return job ? [job] : [];
    });
    done = await completeManyInTx(tx, jobs, ctx.clock());
  });
  for (const j of handoffs) ctx.handoffs.push(j);
  for (const id of done) ctx.completed.add(id);
}

/**
 * The intent columns the steps read. Not the policy decision and its trace, nor the failure (both
 * jsonb, parsed for every row): no step reads them, so they come back null here.
 */
const STEP_COLUMNS = `SELECT id, digest, intent_json, signature, requested_by, wallet, chain, state, version,
    NULL AS decision, NULL AS failure, not_before, expires_at, created_at, updated_at
  FROM wf_intents WHERE id = ANY($1::uuid[])`;

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export const item = (id: string, events: TransitionInput[]): TransitionItem => ({ id, events });

/**
 * The parsed intent of a record. The steps of one withdrawal (evaluate, build, broadcast) parse the
 * same stored JSON: the parse is pure, so the result is kept per exact JSON text (a changed byte is
 * a new key and parsed afresh), for the last PARSED_MAX texts.
 */
export function intentOf(rec: IntentRecord): Intent {
  const hit = parsed.get(rec.intentJson);
  if (hit) return hit;
  const intent = Object.freeze(parseIntent(JSON.parse(rec.intentJson))) as Intent;
  if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value!);
  parsed.set(rec.intentJson, intent);
  return intent;
}

const PARSED_MAX = 4096;
const parsed = new Map<string, Intent>();

export type { Intent, OutboxView };
