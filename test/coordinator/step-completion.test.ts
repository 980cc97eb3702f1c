import { afterAll, describe, expect, it, vi } from 'vitest';
import { JOB, type StepContext, stepTransaction } from '../../src/coordinator/workflow/engine.ts';
import { JobQueue } from '../../src/store/workflow/queue.ts';
import { storeBackends } from '../helpers/db.ts';
import { fixture, makeIntent, submit } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 180_000 });
const backends = await storeBackends();
const LEASE_MS = 60_000;

/**
 * A step marks its jobs done in the transaction that records what the step did (its transitions,
 * outbox rows, next jobs), not in a statement and commit of its own afterwards. Done only with the
 * transitions: a step transaction that rolls back completes nothing, and a job whose lease another
 * worker took over is not completed by the worker that lost it.
 */
describe.each(backends)('step transactions complete their jobs on $name', (backend) => {
  afterAll(() => backend.cleanup());

  const status = async (db: Awaited<ReturnType<typeof backend.open>>, id: string) =>
    (await db.query<{ status: string }>('SELECT status FROM wf_jobs WHERE id = $1', [id])).rows[0]?.status;

  it('every step of a withdrawal: its job is done when the step returns, before any settle', async () => {
    let nowMs = Date.now();
    const clock = () => new Date(nowMs);
    const db = await backend.open();
    const f = await fixture(db, { clock });
    const intent = makeIntent({}, clock());
    expect(await submit(f.c, intent)).toBe(201);
    // The evaluation's own build fails once, so the build step runs too (it otherwise builds an
    // allowed intent whose wallet is free itself).
    f.chain.failBuilds = 1;
    const fold = () => ({ worker: 'a', until: new Date(nowMs + LEASE_MS) });
    let jobs = await f.c.queue.claim({
      worker: 'a',
      limit: 10,
      visibilityMs: LEASE_MS,
      now: clock(),
      kinds: [JOB.evaluate],
    });
    for (const kind of [JOB.evaluate, JOB.build, JOB.sign, JOB.broadcast] as const) {
      expect(jobs.map((j) => j.kind)).toEqual([kind]);
      const run = await f.c.engine.runBatch(kind, jobs, fold());
      expect([...run.completed]).toEqual([jobs[0]!.id]);
      expect(await status(db, jobs[0]!.id)).toBe('done');
      jobs = run.handoffs;
    }
    // The broadcast enqueued its confirmation for any worker (a block decides when it is due).
    nowMs += 5_000;
    jobs = await f.c.queue.claim({
      worker: 'a',
      limit: 10,
      visibilityMs: LEASE_MS,
      now: clock(),
      kinds: [JOB.confirm],
    });
    expect(jobs).toHaveLength(1);
    const run = await f.c.engine.runBatch(JOB.confirm, jobs, fold());
    expect([...run.completed]).toEqual([jobs[0]!.id]);
    expect(await status(db, jobs[0]!.id)).toBe('done');
    expect((await f.c.intents.get(intent.id))!.state).toBe('confirmed');
    await f.c.close();
  });

  it('a step transaction that rolls back completes nothing; a lost lease is not completed', async () => {
    const db = await backend.open();
    const queue = new JobQueue(db);
    const now = new Date();
    for (const key of ['x', 'y'])
      await queue.enqueue({ kind: 'build', payload: { intentId: key }, dedupKey: key }, now);
    const claimed = await queue.claim({ worker: 'a', limit: 2, visibilityMs: 1, now });
    expect(claimed).toHaveLength(2);
    const [x, y] = claimed.sort((p, q) => p.dedupKey!.localeCompare(q.dedupKey!));
    const ctx = {
      db,
      clock: () => now,
      handoffs: [],
      jobOf: new Map([
        ['x', x!],
        ['y', y!],
      ]),
      completed: new Set<string>(),
    } as unknown as StepContext;
    // The write fails after its statements ran: nothing of it stays, the jobs stay claimed.
    await expect(
      stepTransaction(ctx, async (tx) => {
        await tx.query("UPDATE wf_jobs SET payload = '{\"tampered\":true}'::jsonb WHERE dedup_key = 'x'");
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(ctx.completed.size).toBe(0);
    expect(await status(db, x!.id)).toBe('queued');
    // Another worker takes "y" over once a's lease ran out: a cannot complete it any more.
    const later = new Date(now.getTime() + 10);
    const taken = await queue.claim({ worker: 'b', limit: 2, visibilityMs: LEASE_MS, now: later });
    expect(taken.map((j) => j.dedupKey).sort()).toEqual(['x', 'y']);
    const bLeaseOfX = taken.find((j) => j.dedupKey === 'x')!;
    await stepTransaction(ctx, async () => ['x', 'y']);
    expect(ctx.completed.size).toBe(0);
    expect(await status(db, y!.id)).toBe('queued');
    // The worker holding the lease now completes it.
    const ctxB = { ...ctx, jobOf: new Map([['x', bLeaseOfX]]), completed: new Set<string>() } as StepContext;
    await stepTransaction(ctxB, async () => ['x']);
    expect([...ctxB.completed]).toEqual([bLeaseOfX.id]);
    expect(await status(db, bLeaseOfX.id)).toBe('done');
  });
});
