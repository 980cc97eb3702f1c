import { afterAll, describe, expect, it, vi } from 'vitest';
import { JOB } from '../../src/coordinator/workflow/engine.ts';
import type { Db } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { completeManyInTx, JobQueue } from '../../src/store/workflow/queue.ts';
import { DATABASE_URL, storeBackends } from '../helpers/db.ts';
import { fixture, makeIntent, submit } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 120_000 });
const backends = await storeBackends();

/**
 * Writes whose loss in a server crash is harmless — job settlements (the job runs again once its
 * lease ends, and every step is safe to rerun) and wake-up hints — commit without waiting for a
 * WAL flush of their own; nothing else does. A trigger on wf_jobs records the
 * `synchronous_commit` of the transaction that updated each row: `off` in those statements' own
 * transactions, `on` in a step's transaction on the same connection right after (the setting never
 * leaks into a transaction that must be durable).
 */
describe.each(backends)('asynchronous settles and hints on $name', (backend) => {
  afterAll(() => backend.cleanup());

  /** The backend's database, on PostgreSQL through a pool of ONE connection (so reuse is certain). */
  async function open(): Promise<Db> {
    const db = await backend.open();
    const one =
      backend.name === 'postgres'
        ? await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema, max: 1 })
        : db;
    await one.exec(`
      CREATE TABLE commit_mode (seen text NOT NULL);
      CREATE FUNCTION note_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO commit_mode VALUES (current_setting('synchronous_commit')); RETURN NEW; END $$;
      CREATE TRIGGER note_commit_mode AFTER UPDATE ON wf_jobs FOR EACH ROW EXECUTE FUNCTION note_commit_mode();`);
    return one;
  }
  const seen = async (db: Db) => {
    const { rows } = await db.query<{ seen: string }>('DELETE FROM commit_mode RETURNING seen');
    return rows.map((r) => r.seen);
  };

  it('job settlements are asynchronous; a step transaction after them on the connection is not', async () => {
    const db = await open();
    const queue = new JobQueue(db);
    const now = new Date();
    for (const key of ['a', 'b', 'c'])
      await queue.enqueue({ kind: 'build', payload: { intentId: key }, dedupKey: key }, now);
    const jobs = await queue.claim({ worker: 'w', limit: 3, visibilityMs: 60_000, now });
    expect(jobs).toHaveLength(3);
    await seen(db); // the claim is synchronous: its lease is the fencing token
    const [a, b, c] = jobs.sort((p, q) => p.dedupKey!.localeCompare(q.dedupKey!));
    const settled = await queue.settleMany(
      [
        { job: a!, outcome: { kind: 'done' } },
        { job: b!, outcome: { kind: 'snooze', until: new Date(now.getTime() + 1000) } },
      ],
      now,
    );
    expect(settled).toBe(2);
    expect(await seen(db)).toEqual(['off', 'off']);
    // The next transaction on the same connection (a step completing its job) is durable.
    expect(await db.transaction((tx) => completeManyInTx(tx, [c!], now))).toEqual([c!.id]);
    expect(await seen(db)).toEqual(['on']);
    expect((await db.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]).toEqual({
      synchronous_commit: 'on',
    });
    if (backend.name === 'postgres') await db.close();
  });

  it("a wake-up hint for a wallet's waiting build is asynchronous", async () => {
    const db = await open();
    const f = await fixture(db);
    // The evaluation's build fails: the intent waits in `building` with a build job, due later.
    f.chain.failBuilds = 1;
    const intent = makeIntent();
    expect(await submit(f.c, intent)).toBe(201);
    const now = new Date();
    const jobs = await f.c.queue.claim({
      worker: 'w',
      limit: 5,
      visibilityMs: 60_000,
      now,
      kinds: [JOB.evaluate],
    });
    const run = await f.c.engine.runBatch(JOB.evaluate, jobs);
    expect([...run.completed]).toEqual([jobs[0]!.id]);
    expect((await f.c.intents.get(intent.id))!.state).toBe('building');
    await db.query("UPDATE wf_jobs SET run_at = now() + interval '1 hour' WHERE kind = 'build'");
    await seen(db);
    await f.c.engine.wakeNextBuilds([intent.wallet]);
    expect(await seen(db)).toEqual(['off']);
    const { rows } = await db.query<{ due: boolean }>(
      "SELECT run_at <= now() AS due FROM wf_jobs WHERE kind = 'build'",
    );
    expect(rows).toEqual([{ due: true }]);
    await f.c.close();
    if (backend.name === 'postgres') await db.close();
  });
});
