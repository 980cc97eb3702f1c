import { hostname } from 'node:os';
import { pushTo } from '../../core/collections.ts';
import type { Job, JobQueue } from '../../store/workflow/queue.ts';
import { type BatchRun, type Fold, JOB, type WorkflowEngine } from './engine.ts';

export interface WorkerOptions {
  /** Unique per process: recorded as the lease holder. */
  id?: string;
  pollMs?: number;
  /** Most jobs of one kind claimed and run together (one batch). */
  batch?: number;
  visibilityMs?: number;
  expirySweepMs?: number;
  /** How long a lane woken by new work waits for more before claiming (batches form). */
  lingerMs?: number;
  /**
   * While one kind's work flows in small batches, its lanes start at most one batch per this many
   * ms (see {@link lingerFor}); default: `lingerMs` (no adaptive wait).
   */
  lingerMaxMs?: number;
  /**
   * Lanes per job kind (batches of that kind in flight at once). Signing waits on the co-signers
   * and broadcasting on the chain node, so more than one batch of each is worth having in flight.
   */
  lanes?: Partial<Record<string, number>>;
  /**
   * Continue a batch's intents in this process (default true): the next step's jobs are inserted
   * claimed by this worker and run by the next lane without a claim (see "handoffs" below).
   */
  fold?: boolean;
  clock: () => Date;
  onError?: (e: unknown, jobKind: string) => void;
}

const KINDS = Object.values(JOB);
const DEFAULT_LANES: Partial<Record<string, number>> = { [JOB.sign]: 3, [JOB.broadcast]: 2 };
/**
 * The lanes whose work a finished batch of each kind enqueues (evaluate builds an allowed intent
 * itself when its wallet is free, so its next step is a build or a signature; a final intent frees
 * a build slot).
 */
const NEXT: Record<string, readonly string[]> = {
  [JOB.evaluate]: [JOB.build, JOB.sign],
  [JOB.build]: [JOB.sign],
  [JOB.sign]: [JOB.broadcast],
  [JOB.broadcast]: [JOB.confirm],
  [JOB.confirm]: [JOB.build],
};

/**
 * Polls the durable queue and runs the engine's steps in batches. One lane per job kind: each
 * claims up to `batch` ready jobs of its kind, runs them as one batch and settles their outcomes
 * in one statement, so a slow step (a co-signer answering late, a chain RPC) holds back only its
 * own kind, and a busy kind is never starved by another. Any number of workers (in any number of
 * processes) can run against one database: claims use SKIP LOCKED and leases.
 */
export class Worker {
  private running = false;
  private lanes: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();
  /** Per kind: the lanes of that kind waiting for work. */
  private readonly laneWakers = new Map<string, Set<() => void>>();
  /** Per lane: poked while busy, so the next wait is skipped. */
  private readonly signalled = new Map<string, boolean>();
  /** Per lane: the earliest time a job this worker snoozed becomes due (so it wakes for it). */
  private readonly dueAt = new Map<string, number>();
  /** Per kind: when its last batch started and how many jobs it had. */
  private readonly lastBatch = new Map<string, { at: number; size: number }>();
  /**
   * Per kind: jobs a finished batch inserted already claimed by this worker (the next step of its
   * intents), run by that kind's lane before it claims from the queue. They are durable jobs under
   * this worker's lease: if the process dies first, the lease runs out and any worker claims them.
   */
  private readonly handoffs = new Map<string, Job[]>();
  /** Per kind: when its lane last claimed from the queue (handoffs must not starve queued jobs). */
  private readonly lastClaim = new Map<string, number>();
  private lastSweep = 0;
  readonly id: string;

  constructor(
    private readonly queue: JobQueue,
    private readonly engine: WorkflowEngine,
    private readonly o: WorkerOptions,
  ) {
    this.id = o.id ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lanes = KINDS.flatMap((kind) =>
      Array.from({ length: this.o.lanes?.[kind] ?? DEFAULT_LANES[kind] ?? 1 }, () => this.lane(kind)),
    );
  }

  /**
   * Wakes the lanes an API call can give work to (a submit enqueues an evaluation; a quorum or a
   * cancel, a build) instead of waiting for the poll. Not the others: at hundreds of submits a
   * second, waking every lane would be hundreds of empty claims.
   */
  poke(): void {
    this.pokeLane(JOB.evaluate);
    this.pokeLane(JOB.build);
  }

  /** Wakes one waiting lane of `kind` (e.g. confirmations after a new block). */
  wake(kind: string): void {
    this.pokeLane(kind);
  }

  private pokeLane(kind: string | undefined): void {
    if (!kind) return;
    this.signalled.set(kind, true);
    // One waiting lane is enough: it claims everything ready (up to a batch).
    const first = this.laneWakers.get(kind)?.values().next();
    if (first && !first.done) first.value();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const w of [...this.wakers]) w();
    await Promise.all(this.lanes);
    // Hand the jobs this worker holds but will not run back to the queue at once (not after
    // their lease): a snooze to now, no attempt counted.
    const held = [...this.handoffs.values()].flat();
    this.handoffs.clear();
    const now = this.o.clock();
    await this.queue
      .settleMany(
        held.map((job) => ({ job, outcome: { kind: 'snooze', until: now } as const })),
        now,
      )
      .catch((e) => this.o.onError?.(e, 'release'));
  }

  /** Runs ready jobs until none is left (tests and `custos demo`). Returns how many ran. */
  async drain(maxRounds = 1000): Promise<number> {
    let n = 0;
    for (let i = 0; i < maxRounds; i++) {
      const ran = await this.tick();
      if (ran === 0) break;
      n += ran;
    }
    return n;
  }

  /** One round: claims up to `batch` ready jobs of any kind and runs them, one batch per kind. */
  async tick(): Promise<number> {
    await this.sweep();
    const held = [...this.handoffs.values()].flat();
    this.handoffs.clear();
    const jobs = [...held, ...(await this.claim(this.o.batch ?? 32))];
    const byKind = new Map<string, Job[]>();
    for (const j of jobs) {
      pushTo(byKind, j.kind, j);
    }
    for (const [kind, list] of byKind) await this.runBatch(kind, list);
    return jobs.length;
  }

  private async sweep(): Promise<void> {
    const now = this.o.clock();
    if (now.getTime() - this.lastSweep < (this.o.expirySweepMs ?? 5000)) return;
    this.lastSweep = now.getTime();
    await this.engine.expireDue().catch((e) => this.o.onError?.(e, 'expire'));
  }

  private claim(limit: number, kind?: string): Promise<Job[]> {
    return this.queue.claim({
      worker: this.id,
      limit,
      visibilityMs: this.o.visibilityMs ?? 60_000,
      now: this.o.clock(),
      ...(kind ? { kinds: [kind] } : {}),
    });
  }

  private fold(): Fold | undefined {
    if (this.o.fold === false) return undefined;
    return { worker: this.id, until: new Date(this.o.clock().getTime() + (this.o.visibilityMs ?? 60_000)) };
  }

  /** Up to `max` of the jobs handed to this worker for `kind`. */
  private takeHandoffs(kind: string, max: number): Job[] {
    const held = this.handoffs.get(kind);
    if (!held || held.length === 0) return [];
    return held.splice(0, max);
  }

  private async runBatch(kind: string, jobs: Job[]): Promise<void> {
    let run: BatchRun;
    try {
      run = await this.engine.runBatch(kind, jobs, this.fold());
    } catch (e) {
      this.o.onError?.(e, kind);
      const message = e instanceof Error ? e.message : String(e);
      run = {
        outcomes: new Map(jobs.map((j) => [j.id, { kind: 'retry', code: 'STEP_ERROR', message }])),
        handoffs: [],
        completed: new Set(),
      };
    }
    const { outcomes } = run;
    for (const j of run.handoffs) pushTo(this.handoffs, j.kind, j);
    // Jobs the step already marked done in its own transaction are not settled again.
    const settled = jobs
      .filter((job) => !run.completed.has(job.id))
      .map((job) => ({ job, outcome: outcomes.get(job.id) ?? ({ kind: 'done' } as const) }));
    try {
      await this.queue.settleMany(settled, this.o.clock());
    } catch (e) {
      // The leases run out and the jobs are claimed again: every step is safe to rerun.
      this.o.onError?.(e, kind);
    }
    for (const { outcome } of settled) {
      if (outcome.kind !== 'snooze') continue;
      const at = outcome.until.getTime();
      if (at < (this.dueAt.get(kind) ?? Number.POSITIVE_INFINITY)) this.dueAt.set(kind, at);
    }
    // What this batch enqueued is the next lane's work.
    for (const next of NEXT[kind] ?? []) this.pokeLane(next);
  }

  private async lane(kind: string): Promise<void> {
    const max = this.o.batch ?? 32;
    while (this.running) {
      let claimed = 0;
      try {
        if (kind === JOB.evaluate) await this.sweep();
        const jobs = this.takeHandoffs(kind, max);
        // Queued jobs of this kind (retries, snoozes come due, other processes' work) are claimed
        // whenever the handoffs leave room, at least once per poll interval.
        const nowMs = this.o.clock().getTime();
        if (
          jobs.length < max &&
          (jobs.length === 0 || nowMs - (this.lastClaim.get(kind) ?? 0) >= (this.o.pollMs ?? 250))
        ) {
          this.lastClaim.set(kind, nowMs);
          for (const j of await this.claim(max - jobs.length, kind)) jobs.push(j);
        }
        claimed = jobs.length;
        if (claimed > 0) {
          this.lastBatch.set(kind, { at: this.o.clock().getTime(), size: claimed });
          await this.runBatch(kind, jobs);
        }
      } catch (e) {
        this.o.onError?.(e, `claim:${kind}`);
      }
      if (!this.running) break;
      // A full batch: more may be ready, look again at once.
      if (claimed >= max || (this.handoffs.get(kind)?.length ?? 0) > 0) continue;
      if (!this.signalled.get(kind)) await this.wait(this.nextWaitMs(kind), kind);
      this.signalled.set(kind, false);
      // Woken by new work: linger a moment so it is claimed as a batch, not one job at a time
      // (each claim and each step is a few round trips whatever its size).
      if (this.running) await this.wait(this.lingerMs(kind));
    }
  }

  /** How long a woken lane of `kind` waits before it claims (see {@link lingerFor}). */
  private lingerMs(kind: string): number {
    return lingerFor(this.o, this.lastBatch.get(kind), this.o.clock().getTime());
  }

  /**
   * Until the poll interval ends or, sooner, a job this worker snoozed is due (a confirmation
   * check, a wallet slot re-check): other processes' work is found by the poll, ours on time.
   */
  private nextWaitMs(kind: string): number {
    const poll = this.o.pollMs ?? 250;
    const due = this.dueAt.get(kind);
    if (due === undefined) return poll;
    const ms = due - this.o.clock().getTime();
    if (ms > poll) return poll;
    this.dueAt.delete(kind);
    return Math.max(0, ms);
  }

  /** Resolves after `ms`, or earlier when `lane` (if given) is poked or the worker stops. */
  private wait(ms: number, lane?: string): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(t);
        this.wakers.delete(finish);
        if (lane) this.laneWakers.get(lane)?.delete(finish);
        resolve();
      };
      const t = setTimeout(finish, ms);
      if (lane) {
        this.wakers.add(finish);
        const set = this.laneWakers.get(lane) ?? new Set();
        set.add(finish);
        this.laneWakers.set(lane, set);
      }
    });
  }
}

/**
 * How long a woken lane waits before it claims: `lingerMs` normally. While its kind's work flows
 * in small batches — the last one started less than `lingerMaxMs` ago and held under a quarter of
 * `batch` — until `lingerMaxMs` after that batch's start: every batch costs a fixed number of
 * statements, co-signer requests and node calls whatever its size, so at moderate rates fewer,
 * larger batches save CPU in every process, for at most `lingerMaxMs` more per step. Sparse work
 * (the last batch long ago) and full batches (high rates) keep the short wait.
 */
export function lingerFor(
  o: Pick<WorkerOptions, 'lingerMs' | 'lingerMaxMs' | 'batch'>,
  last: { at: number; size: number } | undefined,
  nowMs: number,
): number {
  const min = o.lingerMs ?? 10;
  const max = o.lingerMaxMs ?? min;
  if (!last || max <= min || last.size >= (o.batch ?? 32) / 4) return min;
  const since = nowMs - last.at;
  return since < max ? Math.max(min, max - since) : min;
}
