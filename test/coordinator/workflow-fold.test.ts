import { afterAll, describe, expect, it, vi } from 'vitest';
import { JOB } from '../../src/coordinator/workflow/engine.ts';
import { Worker } from '../../src/coordinator/workflow/worker.ts';
import type { Job } from '../../src/store/workflow/queue.ts';
import { storeBackends } from '../helpers/db.ts';
import { fixture, idem, makeIntent, submitBody } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 180_000 });
const backends = await storeBackends();

const LEASE_MS = 60_000;

/**
 * Folded steps: a worker that finishes a step inserts the next step's job already claimed by
 * itself (in the transaction that records the transition) and runs it next without a claim. These
 * tests kill that worker between the folded sub-steps — the transition committed, the continuation
 * never run — and show the intent still completes exactly once: the held job is an ordinary
 * durable job whose lease runs out, no step runs twice, no co-signer is sent a second, different
 * request and nothing is broadcast twice.
 */
describe.each(backends)('folded workflow steps on $name', (backend) => {
  afterAll(() => backend.cleanup());

  async function setup() {
    let nowMs = Date.now();
    const clock = () => new Date(nowMs);
    const db = await backend.open();
    const f = await fixture(db, { clock });
    return { ...f, db, clock, advance: (ms: number) => (nowMs += ms) };
  }

  /** Runs claimed jobs the way worker "a" does, and returns what it would run next. */
  async function runAsA(f: Awaited<ReturnType<typeof setup>>, kind: string, jobs: Job[]): Promise<Job[]> {
    const run = await f.c.engine.runBatch(kind, jobs, {
      worker: 'a',
      until: new Date(f.clock().getTime() + LEASE_MS),
    });
    await f.c.queue.settleMany(
      jobs.map((job) => ({ job, outcome: run.outcomes.get(job.id) ?? { kind: 'done' } })),
      f.clock(),
    );
    return run.handoffs;
  }

  /**
   * Where "a" dies: the steps it ran, the job it then holds and the intent's state. The evaluation
   * builds an allowed intent whose wallet is free itself; when that build fails (the node did not
   * answer) it hands a build job on instead, which the build step runs.
   */
  const crashPoints = [
    {
      after: 'evaluate (built at once)',
      failBuilds: 0,
      steps: [JOB.evaluate],
      next: JOB.sign,
      state: 'signing',
    },
    {
      after: 'evaluate (build failed)',
      failBuilds: 1,
      steps: [JOB.evaluate],
      next: JOB.build,
      state: 'building',
    },
    { after: 'build', failBuilds: 1, steps: [JOB.evaluate, JOB.build], next: JOB.sign, state: 'signing' },
    {
      after: 'sign',
      failBuilds: 0,
      steps: [JOB.evaluate, JOB.sign],
      next: JOB.broadcast,
      state: 'broadcast',
    },
  ];

  it.each(crashPoints)(
    'worker killed right after its $after step committed: the held next job runs once its lease ends, nothing twice',
    async (point) => {
      const f = await setup();
      f.chain.failBuilds = point.failBuilds;
      const intent = makeIntent({}, f.clock());
      const r = await f.c.app.inject({
        method: 'POST',
        url: '/v1/intents',
        headers: idem(),
        payload: submitBody(intent),
      });
      expect(r.statusCode).toBe(201);
      // Worker "a" claims the evaluation and folds on until the crash point.
      let jobs = await f.c.queue.claim({
        worker: 'a',
        limit: 10,
        visibilityMs: LEASE_MS,
        now: f.clock(),
        kinds: [JOB.evaluate],
      });
      expect(jobs).toHaveLength(1);
      for (const kind of point.steps) {
        expect(jobs.map((j) => j.kind)).toEqual([kind]);
        jobs = await runAsA(f, kind, jobs);
      }
      // The next step's job is durable, held by "a" (committed with the transition) …
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ kind: point.next, lease: 1, attempts: 1 });
      const { rows } = await f.db.query('SELECT status, locked_by FROM wf_jobs WHERE id = $1', [jobs[0]!.id]);
      expect(rows).toEqual([{ status: 'queued', locked_by: 'a' }]);
      const afterCrash = (await f.c.intents.get(intent.id))!.state;
      expect(afterCrash).toBe(point.state);
      // … and "a" dies here: the continuation is never run. Another worker does not touch the held
      // job while "a"'s lease lasts …
      const b = new Worker(f.c.queue, f.c.engine, { id: 'b', clock: f.clock, visibilityMs: LEASE_MS });
      await b.drain(50);
      expect((await f.c.intents.get(intent.id))!.state).toBe(afterCrash);
      // … and finishes the withdrawal once it has run out.
      f.advance(LEASE_MS + 1000);
      await b.drain(50);
      expect((await f.c.intents.get(intent.id))!.state).toBe('confirmed');
      // Exactly once: one build, one request per co-signer (all identical), one broadcast.
      expect(f.chain.builds).toBe(1);
      for (const cs of f.cosigners) {
        expect(cs.requests).toHaveLength(1);
        expect(cs.requests[0]!.tx).toEqual(f.cosigners[0]!.requests[0]!.tx);
      }
      expect(f.chain.broadcasts).toHaveLength(1);
      const history = (await f.c.intents.history(intent.id)).map((h) => h.to);
      expect(history).toEqual(['requested', 'approved', 'building', 'signing', 'broadcast', 'confirmed']);
      // "a" comes back late: its lease is gone, so it can settle nothing.
      expect(
        await f.c.queue.settleMany(
          jobs.map((job) => ({ job, outcome: { kind: 'done' } as const })),
          f.clock(),
        ),
      ).toBe(0);
      await f.c.close();
    },
  );

  it('a worker that stops hands the jobs it holds back to the queue at once', async () => {
    const f = await setup();
    const intent = makeIntent({}, f.clock());
    await f.c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(intent),
    });
    const a = new Worker(f.c.queue, f.c.engine, { id: 'a', clock: f.clock, visibilityMs: LEASE_MS });
    // One round: the evaluation runs, builds, and hands its signing job to "a" itself.
    expect(await a.tick()).toBe(1);
    expect((await f.c.intents.get(intent.id))!.state).toBe('signing');
    await a.stop();
    // No lease to wait for: another worker continues at once.
    const b = new Worker(f.c.queue, f.c.engine, { id: 'b', clock: f.clock, visibilityMs: LEASE_MS });
    await b.drain(50);
    expect((await f.c.intents.get(intent.id))!.state).toBe('confirmed');
    expect(f.chain.builds).toBe(1);
    await f.c.close();
  });
});
