import { hostname } from 'node:os';
import type { Job, JobQueue } from '../../store/workflow/queue.ts';
import type { StepOutcome, WorkflowEngine } from './engine.ts';

export interface WorkerOptions {
  /** Unique per process: recorded as the lease holder. */
  id?: string;
  pollMs?: number;
  batch?: number;
  visibilityMs?: number;
  expirySweepMs?: number;
  clock: () => Date;
  onError?: (e: unknown, jobKind: string) => void;
}

/**
 * Polls the durable queue and runs the engine's steps. Any number of workers (in any number of
 * processes) can run against one database: claims use SKIP LOCKED and leases.
 */
export class Worker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Set by poke() and finished jobs while the loop was busy, so the next wait is skipped. */
  private signalled = false;
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
    this.loop = this.run();
  }

  /** Nudges the loop (after an API call enqueued work) instead of waiting for the next poll. */
  poke(): void {
    this.signalled = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
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

  async tick(): Promise<number> {
    const jobs = await this.claim(this.o.batch ?? 16);
    await Promise.all(jobs.map((job) => this.runJob(job)));
    return jobs.length;
  }

  /** Runs the expiry sweep when due, then claims up to `limit` ready jobs. */
  private async claim(limit: number): Promise<Job[]> {
    const now = this.o.clock();
    if (now.getTime() - this.lastSweep >= (this.o.expirySweepMs ?? 5000)) {
      this.lastSweep = now.getTime();
      await this.engine.expireDue().catch((e) => this.o.onError?.(e, 'expire'));
    }
    return this.queue.claim({
      worker: this.id,
      limit,
      visibilityMs: this.o.visibilityMs ?? 60_000,
      now,
    });
  }

  private async runJob(job: Job): Promise<void> {
    let outcome: StepOutcome;
    try {
      outcome = await this.engine.handle(job);
    } catch (e) {
      this.o.onError?.(e, job.kind);
      outcome = {
        kind: 'retry',
        code: 'STEP_ERROR',
        message: e instanceof Error ? e.message : String(e),
      };
    }
    const at = this.o.clock();
    try {
      if (outcome.kind === 'done') await this.queue.complete(job, undefined, at);
      else if (outcome.kind === 'snooze') await this.queue.snooze(job, outcome.until, at);
      else await this.queue.fail(job, { code: outcome.code, message: outcome.message }, at);
    } catch (e) {
      // The lease runs out and the job is claimed again: every step is safe to rerun.
      this.o.onError?.(e, job.kind);
    }
  }

  /**
   * Keeps up to `batch` jobs in flight: a slot that frees up is refilled at once, so one slow
   * step (a co-signer answering late, a chain RPC) never holds back the jobs queued behind it.
   */
  private async run(): Promise<void> {
    const max = this.o.batch ?? 16;
    const inFlight = new Set<Promise<void>>();
    while (this.running) {
      let claimed = 0;
      if (inFlight.size < max) {
        try {
          const jobs = await this.claim(max - inFlight.size);
          claimed = jobs.length;
          for (const job of jobs) {
            const p: Promise<void> = this.runJob(job).finally(() => {
              inFlight.delete(p);
              this.poke();
            });
            inFlight.add(p);
          }
        } catch (e) {
          this.o.onError?.(e, 'claim');
        }
      }
      if (!this.running) break;
      // Claimed some and slots remain: more may be ready, look again. Otherwise wait for a finished
      // job, a poke or the poll.
      if (claimed > 0 && inFlight.size < max) continue;
      if (this.signalled && inFlight.size < max) {
        this.signalled = false;
        continue;
      }
      this.signalled = false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.pollMs ?? 250);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    await Promise.all(inFlight);
  }
}
