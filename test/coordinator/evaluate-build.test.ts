import { afterAll, describe, expect, it, vi } from 'vitest';
import { JOB } from '../../src/coordinator/workflow/engine.ts';
import { storeBackends } from '../helpers/db.ts';
import { CHAIN, fixture, makeIntent, submit } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 180_000 });
const backends = await storeBackends();
const LEASE_MS = 60_000;

/**
 * The evaluation builds an allowed intent (no time lock) itself, in its own transaction, when the
 * intent's wallet slot is free: no build job, one intent update and one commit fewer. Never
 * ahead of an intent already queued for that wallet, never two of one wallet, and a build that
 * fails there only hands the intent to the build step as before.
 */
describe.each(backends)('evaluate builds at once on $name', (backend) => {
  afterAll(() => backend.cleanup());

  async function setup() {
    const db = await backend.open();
    const wallet = (id: string) => ({
      id,
      chain: CHAIN,
      cosigners: ['cosigner-a', 'cosigner-b'],
      threshold: 2,
    });
    const f = await fixture(db, { wallets: [wallet('hot-1'), wallet('hot-2')] });
    /** Claims the ready jobs of `kind` as worker "a" and runs them as one batch, folded. */
    const run = async (kind: string) => {
      const now = new Date();
      const jobs = await f.c.queue.claim({
        worker: 'a',
        limit: 10,
        visibilityMs: LEASE_MS,
        now,
        kinds: [kind],
      });
      const r = await f.c.engine.runBatch(kind, jobs, {
        worker: 'a',
        until: new Date(now.getTime() + LEASE_MS),
      });
      await f.c.queue.settleMany(
        jobs
          .filter((job) => !r.completed.has(job.id))
          .map((job) => ({ job, outcome: r.outcomes.get(job.id)! })),
        now,
      );
      // Handed-off jobs go back to the queue for the next claim (the worker would run them next).
      await db.query("UPDATE wf_jobs SET locked_by = NULL, locked_until = NULL WHERE status = 'queued'");
      return r;
    };
    const state = async (id: string) => (await f.c.intents.get(id))!.state;
    const jobKinds = async (id: string) =>
      (
        await db.query<{ kind: string }>(
          "SELECT kind FROM wf_jobs WHERE payload->>'intentId' = $1 ORDER BY created_at, kind",
          [id],
        )
      ).rows.map((r) => r.kind);
    return { ...f, db, run, state, jobKinds };
  }

  it('a free wallet: approved, building and signing in one transaction, no build job', async () => {
    const f = await setup();
    const intent = makeIntent();
    expect(await submit(f.c, intent)).toBe(201);
    const r = await f.run(JOB.evaluate);
    expect(r.handoffs.map((j) => j.kind)).toEqual([JOB.sign]);
    expect(await f.state(intent.id)).toBe('signing');
    expect(f.chain.builds).toBe(1);
    expect(await f.jobKinds(intent.id)).toEqual([JOB.evaluate, JOB.sign]);
    const history = await f.c.intents.history(intent.id);
    expect(history.map((h) => h.to)).toEqual(['requested', 'approved', 'building', 'signing']);
    // The frozen transaction's digest is in the `built` transition, as when the build step builds.
    const { rows } = await f.db.query<{ details: unknown }>(
      "SELECT details FROM wf_transitions WHERE intent_id = $1 AND event = 'built'",
      [intent.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.details).toMatchObject({ txDigest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    await f.c.close();
  });

  it('two intents of one wallet in a batch: the older is built, the other queues for the slot', async () => {
    const f = await setup();
    const older = makeIntent();
    const newer = makeIntent();
    expect(await submit(f.c, older)).toBe(201);
    expect(await submit(f.c, newer)).toBe(201);
    await f.run(JOB.evaluate);
    expect(await f.state(older.id)).toBe('signing');
    expect(await f.state(newer.id)).toBe('building');
    expect(f.chain.builds).toBe(1);
    // The newer one's build job waits while the older one holds the wallet.
    const b = await f.run(JOB.build);
    expect([...b.outcomes.values()].map((o) => o.kind)).toEqual(['snooze']);
    expect(await f.state(newer.id)).toBe('building');
    expect(f.chain.builds).toBe(1);
    await f.c.close();
  });

  it('never overtakes an intent already waiting for the wallet, nor one holding it', async () => {
    const f = await setup();
    /** A new intent of the wallet, submitted and evaluated: it must wait in `building`. */
    const evaluatedWaiting = async (builds: number) => {
      const intent = makeIntent();
      expect(await submit(f.c, intent)).toBe(201);
      await f.run(JOB.evaluate);
      expect(await f.state(intent.id)).toBe('building');
      expect(f.chain.builds).toBe(builds);
      return intent;
    };
    // The first intent's build fails during its evaluation: it waits in `building` for the build step.
    f.chain.failBuilds = 1;
    const first = await evaluatedWaiting(0);
    // A later intent of the same wallet is evaluated while the first waits: it queues behind it.
    await evaluatedWaiting(0);
    // The build step builds the first (the oldest waiter) …
    await f.run(JOB.build);
    expect(await f.state(first.id)).toBe('signing');
    expect(f.chain.builds).toBe(1);
    // … and a third intent, evaluated while the first holds the slot, is not built either.
    const third = await evaluatedWaiting(1);
    expect(await f.jobKinds(third.id)).toEqual([JOB.evaluate, JOB.build]);
    await f.c.close();
  });

  it('intents of different wallets in one batch are all built at once', async () => {
    const f = await setup();
    const a = makeIntent();
    const b = makeIntent({ wallet: 'hot-2' });
    for (const i of [a, b]) expect(await submit(f.c, i)).toBe(201);
    await f.run(JOB.evaluate);
    expect(await f.state(a.id)).toBe('signing');
    expect(await f.state(b.id)).toBe('signing');
    expect(f.chain.builds).toBe(2);
    await f.c.close();
  });
});
