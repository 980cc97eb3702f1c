import type { Db, Queryable } from '../db.ts';

/**
 * Durable job queue in PostgreSQL (the same SQL runs on PGlite). Workers in any number of
 * processes claim ready jobs with `FOR UPDATE SKIP LOCKED`, so two never take the same job and
 * none waits on another's lock. A claim is a lease: a worker that dies leaves `locked_until` in
 * the past and the job is claimed again (at-least-once; handlers are idempotent through the
 * outbox). `lease` is bumped by every claim and is the fencing token: a worker whose lease
 * expired cannot complete or reschedule a job someone else now holds.
 */
export interface EnqueueInput {
  kind: string;
  payload: Record<string, unknown>;
  /** At most one job per key ever (e.g. `sign:<intent id>`); a second enqueue is a no-op. */
  dedupKey?: string;
  runAt?: Date;
  maxAttempts?: number;
  /**
   * Insert the job already claimed by this worker until `until` (lease 1, attempt 1): the worker
   * that wrote the step before it runs it next without a claim (see Worker, "handoffs"). If that
   * worker dies first, the lease runs out and any worker claims the job as usual: the job is as
   * durable as a queued one.
   */
  claim?: { worker: string; until: Date };
}

export interface Job {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  attempts: number;
  /** Fencing token of this claim. */
  lease: number;
  maxAttempts: number;
  dedupKey: string | null;
}

export interface RetryPolicy {
  /** First retry delay. */
  baseMs: number;
  /** Ceiling for a single delay. */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 500, maxMs: 60_000 };

/** Exponential backoff: base·2^(attempt-1), capped. Deterministic so tests can predict it. */
export function backoffMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
}

export async function enqueueInTx(tx: Queryable, job: EnqueueInput, now: Date): Promise<void> {
  await tx.query(
    `INSERT INTO wf_jobs (kind, dedup_key, payload, run_at, max_attempts, created_at, updated_at)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6, $6)
     ON CONFLICT (dedup_key) DO NOTHING`,
    [
      job.kind,
      job.dedupKey ?? null,
      JSON.stringify(job.payload),
      (job.runAt ?? now).toISOString(),
      job.maxAttempts ?? 20,
      now.toISOString(),
    ],
  );
}

/**
 * Many jobs in one statement (duplicates of a dedup key, here or already queued, are no-ops).
 * Returns the jobs inserted already claimed (`claim`), as claimed jobs; a claimed job whose dedup
 * key was taken is not inserted and not returned (the existing job runs as it would have).
 */
export async function enqueueManyInTx(
  tx: Queryable,
  jobs: readonly EnqueueInput[],
  now: Date,
): Promise<Job[]> {
  if (jobs.length === 0) return [];
  const claims = jobs.some((j) => j.claim !== undefined);
  const { rows } = await tx.query<JobRow>(
    `INSERT INTO wf_jobs (kind, dedup_key, payload, run_at, max_attempts, attempts, lease, locked_by,
       locked_until, created_at, updated_at)
     SELECT kind, dedup_key, payload::jsonb, run_at, max_attempts, n, n, locked_by, locked_until, $6, $6
     FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $7::text[],
                 $8::timestamptz[], $9::int[])
       AS j(kind, dedup_key, payload, run_at, max_attempts, locked_by, locked_until, n)
     ON CONFLICT (dedup_key) DO NOTHING
     ${claims ? 'RETURNING id, kind, payload, attempts, lease, max_attempts, dedup_key, locked_by' : ''}`,
    [
      jobs.map((j) => j.kind),
      jobs.map((j) => j.dedupKey ?? null),
      jobs.map((j) => JSON.stringify(j.payload)),
      jobs.map((j) => (j.runAt ?? now).toISOString()),
      jobs.map((j) => j.maxAttempts ?? 20),
      now.toISOString(),
      jobs.map((j) => j.claim?.worker ?? null),
      jobs.map((j) => j.claim?.until.toISOString() ?? null),
      jobs.map((j) => (j.claim ? 1 : 0)),
    ],
  );
  return claims ? rows.filter((r) => r.locked_by !== null).map(toJob) : [];
}

/**
 * Marks many claimed jobs done inside the caller's transaction: the step's own, so the jobs
 * complete with the transitions they caused (one statement and one commit fewer per batch than
 * settling them afterwards). Same fencing as JobQueue.complete: a job whose lease was lost
 * meanwhile is left alone. Returns the ids it marked.
 */
export async function completeManyInTx(tx: Queryable, jobs: readonly Job[], now: Date): Promise<string[]> {
  if (jobs.length === 0) return [];
  const { rows } = await tx.query<{ id: string | number }>(
    `UPDATE wf_jobs AS j SET status = 'done', locked_by = NULL, locked_until = NULL, updated_at = $3
     FROM unnest($1::bigint[], $2::int[]) AS u(id, lease)
     WHERE j.id = u.id AND j.lease = u.lease AND j.status = 'queued'
     RETURNING j.id`,
    [jobs.map((j) => j.id), jobs.map((j) => j.lease), now.toISOString()],
  );
  return rows.map((r) => String(r.id));
}

/** What became of a claimed job (see JobQueue.settleMany). */
export type JobOutcome =
  | { kind: 'done' }
  | { kind: 'retry'; code: string; message: string }
  | { kind: 'snooze'; until: Date };

interface JobRow {
  id: string | number;
  kind: string;
  payload: Record<string, unknown>;
  attempts: number;
  lease: number;
  max_attempts: number;
  dedup_key: string | null;
  locked_by?: string | null;
}

const toJob = (r: JobRow): Job => ({
  id: String(r.id),
  kind: r.kind,
  payload: r.payload,
  attempts: Number(r.attempts),
  lease: Number(r.lease),
  maxAttempts: Number(r.max_attempts),
  dedupKey: r.dedup_key,
});

/**
 * The durable queue on its own pool connection (a `Db`, never a caller's transaction).
 *
 * Settling jobs (`settleMany`) commits without waiting for a WAL flush of its own
 * (`synchronous_commit` off for that statement's transaction only): a settle lost in a server
 * crash leaves the job claimed until its lease runs out, and then it runs again — harmless, since
 * every step re-reads its intents and does nothing for one that moved on, and effects outside the
 * database go through the outbox. Anything written after it that is durable (a step's
 * transaction) makes it durable too: WAL is flushed in order. Claims stay synchronous: a claim's
 * `lease` is the fencing token, and a lost claim would hand the same token out twice.
 */
export class JobQueue {
  constructor(
    private readonly db: Db,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  async enqueue(job: EnqueueInput, now: Date): Promise<void> {
    await enqueueInTx(this.db, job, now);
  }

  /**
   * Claims up to `limit` ready jobs for `visibilityMs`. Ready = queued, due, and not under a live
   * lease. SKIP LOCKED makes concurrent claimers partition the ready set instead of blocking.
   */
  async claim(opts: {
    worker: string;
    limit: number;
    visibilityMs: number;
    now: Date;
    kinds?: readonly string[];
  }): Promise<Job[]> {
    const until = new Date(opts.now.getTime() + opts.visibilityMs);
    const params = [opts.worker, until.toISOString(), opts.now.toISOString(), opts.limit];
    // One kind (a worker lane): an ordered scan of that kind's ready entries (wf_jobs_ready_kind,
    // migration 0503) instead of every kind's.
    const one = opts.kinds?.length === 1;
    const { rows } = await this.db.query<JobRow>(
      one ? CLAIM_SQL.oneKind : CLAIM_SQL.any,
      one ? [...params, opts.kinds![0]] : [...params, opts.kinds ?? null],
    );
    return rows.map(toJob);
  }

  /** Marks the job done if this claim still holds it; returns false when the lease was lost. */
  async complete(job: Job, q: Queryable = this.db, now: Date = new Date()): Promise<boolean> {
    const r = await q.query(
      `UPDATE wf_jobs SET status = 'done', locked_by = NULL, locked_until = NULL, updated_at = $3
       WHERE id = $1 AND lease = $2 AND status = 'queued'`,
      [job.id, job.lease, now.toISOString()],
    );
    return r.rowCount === 1;
  }

  /**
   * Records a failed attempt: schedules a retry after exponential backoff, or buries the job as
   * `dead` once attempts are exhausted (`permanent` buries it at once). Returns the new status,
   * or undefined when the lease was lost.
   */
  async fail(
    job: Job,
    error: { code: string; message: string },
    now: Date,
    opts: { permanent?: boolean; delayMs?: number } = {},
  ): Promise<'queued' | 'dead' | undefined> {
    const dead = opts.permanent === true || job.attempts >= job.maxAttempts;
    const runAt = new Date(now.getTime() + (opts.delayMs ?? backoffMs(job.attempts, this.retry)));
    const { rows } = await this.db.query<{ status: 'queued' | 'dead' }>(
      `UPDATE wf_jobs SET status = $3, run_at = $4, locked_by = NULL, locked_until = NULL,
         last_error = $5::jsonb, updated_at = $6
       WHERE id = $1 AND lease = $2 AND status = 'queued'
       RETURNING status`,
      [
        job.id,
        job.lease,
        dead ? 'dead' : 'queued',
        runAt.toISOString(),
        JSON.stringify(error),
        now.toISOString(),
      ],
    );
    return rows[0]?.status;
  }

  /** Re-queues a job without counting a failure (e.g. waiting on a time lock or a co-signer). */
  async snooze(job: Job, runAt: Date, now: Date): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE wf_jobs SET run_at = $3, attempts = attempts - 1, locked_by = NULL, locked_until = NULL,
         updated_at = $4
       WHERE id = $1 AND lease = $2 AND status = 'queued'`,
      [job.id, job.lease, runAt.toISOString(), now.toISOString()],
    );
    return r.rowCount === 1;
  }

  /**
   * Applies the outcomes of many claimed jobs in one statement: done, snoozed (no failure counted)
   * or failed (retry after backoff, or dead once attempts are exhausted). Same fencing as the
   * single-job calls: a job whose lease was lost meanwhile is left alone.
   */
  async settleMany(outcomes: readonly { job: Job; outcome: JobOutcome }[], now: Date): Promise<number> {
    if (outcomes.length === 0) return 0;
    const cols = {
      id: [] as string[],
      lease: [] as number[],
      status: [] as string[],
      runAt: [] as (string | null)[],
      attemptsDelta: [] as number[],
      error: [] as (string | null)[],
    };
    for (const { job, outcome } of outcomes) {
      cols.id.push(job.id);
      cols.lease.push(job.lease);
      if (outcome.kind === 'done') {
        cols.status.push('done');
        cols.runAt.push(null);
        cols.attemptsDelta.push(0);
        cols.error.push(null);
      } else if (outcome.kind === 'snooze') {
        cols.status.push('queued');
        cols.runAt.push(outcome.until.toISOString());
        cols.attemptsDelta.push(-1);
        cols.error.push(null);
      } else {
        const dead = job.attempts >= job.maxAttempts;
        cols.status.push(dead ? 'dead' : 'queued');
        cols.runAt.push(new Date(now.getTime() + backoffMs(job.attempts, this.retry)).toISOString());
        cols.attemptsDelta.push(0);
        cols.error.push(JSON.stringify({ code: outcome.code, message: outcome.message }));
      }
    }
    // Committed without waiting for a WAL flush of its own (its own transaction on the pool, see
    // the class comment): losing a settle in a server crash is harmless.
    const r = await this.db.query(
      `WITH nosync AS (SELECT set_config('synchronous_commit', 'off', true))
       UPDATE wf_jobs AS j SET status = u.status, run_at = COALESCE(u.run_at, j.run_at),
         attempts = j.attempts + u.delta, locked_by = NULL, locked_until = NULL,
         last_error = COALESCE(u.error::jsonb, j.last_error), updated_at = $7
       FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[], $5::int[], $6::text[])
         AS u(id, lease, status, run_at, delta, error), nosync
       WHERE j.id = u.id AND j.lease = u.lease AND j.status = 'queued'`,
      [cols.id, cols.lease, cols.status, cols.runAt, cols.attemptsDelta, cols.error, now.toISOString()],
    );
    return r.rowCount ?? 0;
  }

  async stats(): Promise<Record<string, number>> {
    const { rows } = await this.db.query<{ status: string; n: string | number }>(
      'SELECT status, count(*) AS n FROM wf_jobs GROUP BY status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}

// `filter` is one of the two constant texts below, never data: every value is a bound parameter.
const claimSql = (filter: string) =>
  `UPDATE wf_jobs SET attempts = attempts + 1, lease = lease + 1, locked_by = $1, locked_until = $2, updated_at = $3
   WHERE id IN (
     SELECT id FROM wf_jobs
     WHERE status = 'queued' AND ${filter} AND run_at <= $3
       AND (locked_until IS NULL OR locked_until <= $3)
     ORDER BY run_at, id
     LIMIT $4
     FOR UPDATE SKIP LOCKED)
   RETURNING id, kind, payload, attempts, lease, max_attempts, dedup_key`;

/** The claim statements (exported for the scan-cost test). */
export const CLAIM_SQL = {
  /** One kind's ready jobs ($5: the kind). */
  oneKind: claimSql('kind = $5'),
  /** Ready jobs of the kinds in $5, or of any kind when $5 is NULL. */
  any: claimSql('($5::text[] IS NULL OR kind = ANY($5::text[]))'),
};
