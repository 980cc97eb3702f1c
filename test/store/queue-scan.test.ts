import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { CLAIM_SQL, JobQueue } from '../../src/store/workflow/queue.ts';
import { postgresAvailable, postgresBackend } from '../helpers/db.ts';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

/** Shared buffers (hit + read) an EXPLAIN ANALYZE of `sql` touched; what it changed is rolled back. */
async function buffersOf(db: Db, sql: string, params: unknown[]): Promise<number> {
  try {
    await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`,
        params,
      );
      const plan = rows[0]!['QUERY PLAN'][0].Plan;
      throw new Measured((plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0));
    });
  } catch (e) {
    if (e instanceof Measured) return e.blocks;
    throw e;
  }
  throw new Error('unreachable');
}

/** Carries the count out of the transaction, rolling it back. */
class Measured extends Error {
  constructor(readonly blocks: number) {
    super('measured');
  }
}

/**
 * A worker lane's claim must not cost more as the queue's history grows: thousands of jobs that
 * were claimed and completed leave dead index entries until vacuum. On PostgreSQL only (the plan
 * and buffer counts are PostgreSQL's; PGlite runs the same statements in the other store tests).
 */
describe.runIf(await postgresAvailable())('queue claims on a churned queue (PostgreSQL)', () => {
  const backend = postgresBackend();
  afterAll(() => backend.cleanup());

  it("a lane's claim reads its own kind's live entries, not the history of every job", async () => {
    const db = await backend.open();
    const queue = new JobQueue(db);
    const now = new Date();
    const claimOpts = { worker: 'w', visibilityMs: 60_000, now, limit: 500 };
    // 3,000 confirmations and 1,000 evaluations queued, claimed and completed (autovacuum off, as
    // between two vacuums under load).
    await db.exec('ALTER TABLE wf_jobs SET (autovacuum_enabled = false)');
    for (const [kind, n] of [
      ['confirm', 3000],
      ['evaluate', 1000],
    ] as const) {
      for (let done = 0; done < n; done += 500) {
        await db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO wf_jobs (kind, payload, run_at, max_attempts, created_at, updated_at)
             SELECT $1, '{}'::jsonb, $2, 5, $2, $2 FROM generate_series(1, 500)`,
            [kind, now.toISOString()],
          );
        });
        const jobs = await queue.claim({ ...claimOpts, kinds: [kind] });
        expect(jobs).toHaveLength(500);
        for (const j of jobs) await queue.complete(j, db, now);
      }
    }
    await queue.enqueue({ kind: 'build', payload: { intentId: 'x' } }, now);
    const params = (kind: string) => [
      'w',
      new Date(now.getTime() + 60_000).toISOString(),
      now.toISOString(),
      64,
      kind,
    ];
    // Another kind's history is not read at all.
    expect(await buffersOf(db, CLAIM_SQL.oneKind, params('build'))).toBeLessThan(20);
    // Its own kind's dead entries are read once and marked; the next claim skips them.
    await buffersOf(db, CLAIM_SQL.oneKind, params('evaluate'));
    expect(await buffersOf(db, CLAIM_SQL.oneKind, params('evaluate'))).toBeLessThan(20);
    // For contrast, the same claim over every kind through wf_jobs_ready (run_at, id) walks the
    // whole history.
    expect(await buffersOf(db, CLAIM_SQL.any, [...params('build').slice(0, 4), null])).toBeGreaterThan(40);
  });
});
