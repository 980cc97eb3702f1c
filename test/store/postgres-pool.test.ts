import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { DATABASE_URL, postgresAvailable } from '../helpers/db.ts';

/**
 * Idle pooled connections are kept for minutes, not node-postgres's 10 s: every reopened
 * connection is a new server process that prepares its statements again. The pool's idle timer is
 * a setTimeout, so fake timers move the clock; the connections themselves are real.
 */
describe.runIf(await postgresAvailable())('PostgreSQL pool idle connections', () => {
  let db: Db | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await db?.close();
    db = undefined;
  });

  const backend = async (d: Db) =>
    Number((await d.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);

  it('keeps an idle connection past 10 s and closes it after the idle timeout (default 5 min)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    db = await openPostgres({ connectionString: DATABASE_URL, max: 1 });
    const first = await backend(db);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await backend(db)).toBe(first);
    await vi.advanceTimersByTimeAsync(301_000);
    expect(await backend(db)).not.toBe(first);
  });

  it('honours a configured idle timeout (openDb, as `database.postgres.idleTimeoutMs` reaches it)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    db = await openDb({ databaseUrl: DATABASE_URL, poolSize: 1, idleTimeoutMs: 2_000, migrate: false });
    const first = await backend(db);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(await backend(db)).toBe(first);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(await backend(db)).not.toBe(first);
  });
});
