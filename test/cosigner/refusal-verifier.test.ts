import { afterAll, describe, expect, it } from 'vitest';
import { COSIGNER_MIGRATIONS_DIR } from '../../src/cosigner/daemon.ts';
import { appendRefusals, RefusalLogVerifier, verifyRefusalLog } from '../../src/cosigner/refusal-log.ts';
import type { Db, Queryable, QueryResult } from '../../src/store/db.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { storeBackends } from '../helpers/db.ts';

const backends = await storeBackends();

const refusal = (i: number) => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  code: 'POLICY_BLOCKED',
  step: 'policy',
  intentId: null,
  requestDigest: i.toString(16).padStart(64, '0'),
  details: { i },
});

/** Counts the refusal rows each verification reads (what a status call costs). */
function rowsRead(db: Db): { q: Queryable; read: () => number } {
  let n = 0;
  return {
    q: {
      async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
        const r = await db.query<R>(sql, params);
        n += r.rows.length;
        return r;
      },
      exec: (sql) => db.exec(sql),
    },
    read: () => n,
  };
}

/**
 * `GET /v1/status` reports the refusal log's state. Replaying every entry on every call made its
 * cost grow with every refusal ever logged; the verifier replays once, then checks only what was
 * appended since, anchored on the head it verified, and replays in full again periodically.
 */
describe.each(backends)('incremental refusal-log verification on $name', (backend) => {
  afterAll(() => backend.cleanup());

  async function setup() {
    const db = await backend.open({ migrate: false });
    await migrate(db, loadMigrations(COSIGNER_MIGRATIONS_DIR));
    let nowMs = Date.parse('2026-01-01T00:00:00Z');
    const verifier = new RefusalLogVerifier(() => nowMs, 60_000);
    return { db, verifier, advance: (ms: number) => (nowMs += ms) };
  }

  it('after one full replay a call reads the head and the new entries only', async () => {
    const { db, verifier } = await setup();
    await appendRefusals(
      db,
      Array.from({ length: 200 }, (_, i) => refusal(i)),
    );
    const counter = rowsRead(db);
    expect(await verifier.verify(counter.q)).toMatchObject({ ok: true, value: { count: 200 } });
    expect(counter.read()).toBe(200);
    await appendRefusals(db, [refusal(200), refusal(201)]);
    const full = await verifyRefusalLog(db);
    const inc = await verifier.verify(counter.q);
    expect(inc).toEqual(full);
    expect(inc).toMatchObject({ ok: true, value: { count: 202 } });
    expect(counter.read()).toBe(200 + 3);
    expect(await verifier.verify(counter.q)).toEqual(full);
    expect(counter.read()).toBe(203 + 1);
  });

  it('attack: the verified head edited, the tail truncated, a new entry forged — each fails at once', async () => {
    const { db, verifier } = await setup();
    await appendRefusals(db, [refusal(1), refusal(2), refusal(3)]);
    expect(await verifier.verify(db)).toMatchObject({ ok: true, value: { count: 3 } });
    await db.query("UPDATE cosigner_refusals SET code = 'NOTHING' WHERE seq = 3");
    expect(await verifier.verify(db)).toMatchObject({ ok: false, code: 'REFUSAL_LOG_HASH' });

    const t = await setup();
    await appendRefusals(t.db, [refusal(1), refusal(2), refusal(3)]);
    expect(await t.verifier.verify(t.db)).toMatchObject({ ok: true });
    await t.db.query('DELETE FROM cosigner_refusals WHERE seq = 3');
    expect(await t.verifier.verify(t.db)).toMatchObject({ ok: false, code: 'REFUSAL_LOG_GAP' });

    const f = await setup();
    await appendRefusals(f.db, [refusal(1), refusal(2)]);
    expect(await f.verifier.verify(f.db)).toMatchObject({ ok: true });
    await appendRefusals(f.db, [refusal(3)]);
    await f.db.query('UPDATE cosigner_refusals SET details = \'{"i":99}\'::jsonb WHERE seq = 3');
    expect(await f.verifier.verify(f.db)).toMatchObject({ ok: false, code: 'REFUSAL_LOG_HASH' });
  });

  it('attack: an older entry edited is caught by the next full replay (at most fullEveryMs later)', async () => {
    const { db, verifier, advance } = await setup();
    await appendRefusals(db, [refusal(1), refusal(2), refusal(3)]);
    expect(await verifier.verify(db)).toMatchObject({ ok: true });
    await db.query("UPDATE cosigner_refusals SET code = 'NOTHING' WHERE seq = 1");
    // Between full replays only the head and new entries are read: this edit is not seen yet …
    expect(await verifier.verify(db)).toMatchObject({ ok: true });
    // … and is once the period has passed; failures are not remembered as verified.
    advance(60_000);
    expect(await verifier.verify(db)).toMatchObject({ ok: false, code: 'REFUSAL_LOG_HASH' });
    expect(await verifier.verify(db)).toMatchObject({ ok: false, code: 'REFUSAL_LOG_HASH' });
  });
});
