import { hostname } from 'node:os';
import type { JobQueue } from '../../store/workflow/queue.ts';
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
    const now = this.o.clock();
    if (now.getTime() - this.lastSweep >= (this.o.expirySweepMs ?? 5000)) {
      this.lastSweep = now.getTime();
      await this.engine.expireDue().catch((e) => this.o.onError?.(e, 'expire'));
    }
    const jobs = await this.queue.claim({
      worker: this.id,
      limit: this.o.batch ?? 16,
      visibilityMs: this.o.visibilityMs ?? 60_000,
      now,
    });
    await Promise.all(
      jobs.map(async (job) => {
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
        if (outcome.kind === 'done') await this.queue.complete(job, undefined, at);
        else if (outcome.kind === 'snooze') await this.queue.snooze(job, outcome.until, at);
        else await this.queue.fail(job, { code: outcome.code, message: outcome.message }, at);
      }),
    );
    return jobs.length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let ran = 0;
      try {
        ran = await this.tick();
      } catch (e) {
        this.o.onError?.(e, 'claim');
      }
      if (ran > 0 || !this.running) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.pollMs ?? 250);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}
