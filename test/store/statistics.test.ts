import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type Db, StatementNames } from '../../src/store/db.ts';
import { dropSchema, openPostgres } from '../../src/store/postgres.ts';
import { statisticsUpkeep } from '../../src/store/statistics.ts';
import { DATABASE_URL, postgresAvailable, postgresBackend } from '../helpers/db.ts';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const LEDGER_DDL =
  'CREATE TABLE ledger (intent_id text PRIMARY KEY, body text NOT NULL) WITH (autovacuum_enabled = false)';

/** Shared buffers an EXPLAIN ANALYZE of the prepared statement `name` touched. */
async function buffersOf(db: Db, name: string, literal: string): Promise<number> {
  const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }>(
    `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE ${name}(${literal})`,
  );
  const plan = rows[0]!['QUERY PLAN'][0].Plan;
  return (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
}

/**
 * A pooled connection keeps the plan it chose for a prepared statement until something invalidates
 * it; ANALYZE does (autovacuum runs it as tables grow). A plan chosen when a table held a page of
 * rows is a sequential scan, and without ANALYZE it stays one however large the table grows: every
 * lookup then reads the whole table. On PostgreSQL only (PGlite plans every statement afresh).
 */
describe.runIf(await postgresAvailable())('planner statistics upkeep (PostgreSQL)', () => {
  const schemas: string[] = [];
  const dbs: Db[] = [];
  afterAll(async () => {
    for (const db of dbs.splice(0)) await db.close();
    for (const s of schemas.splice(0)) await dropSchema(DATABASE_URL, s);
  });

  async function open(): Promise<Db> {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    // One connection, so the plan measured is the one the lookups cached; no timer (ticks by hand).
    const db = await openPostgres({ connectionString: DATABASE_URL, schema, max: 1, statistics: false });
    dbs.push(db);
    // Out of autovacuum's hands whatever the server's setting: the upkeep's case.
    await db.exec(LEDGER_DDL);
    return db;
  }

  /** Makes this session's table counters visible to the next reader (they are flushed lazily). */
  async function flushCounters(db: Db): Promise<void> {
    await db.query('SELECT pg_stat_force_next_flush()');
    await db.query('SELECT 1');
  }

  /** One upkeep round by hand (no timer); returns the tables it analyzed. */
  async function oneRound(db: Db): Promise<string[]> {
    const upkeep = statisticsUpkeep(db, { intervalMs: 60_000 });
    try {
      return await upkeep.tick();
    } finally {
      upkeep.stop();
    }
  }

  it('a lookup planned on a small table is replanned once the table has grown', async () => {
    const db = await open();
    const sql = 'SELECT intent_id, body FROM ledger WHERE intent_id = ANY($1::text[])';
    const name = new StatementNames().nameFor(sql)!;
    // Any change to pg_namespace resets every cached plan of every session, and other test files
    // create and drop schemas meanwhile: the stale plan can be gone before it is measured. The
    // scenario is then set up again (at most five times).
    let stale = 0;
    for (let attempt = 0; attempt < 5 && stale <= 500; attempt++) {
      if (attempt > 0) await db.exec(`DROP TABLE ledger; ${LEDGER_DDL}`);
      await db.query("INSERT INTO ledger SELECT 'a' || g, repeat('x', 200) FROM generate_series(1, 20) g");
      // An index added by a later migration records the table's size at that moment (as the
      // migrations adding wf_intents_wallet_in_flight or cosigner_ledger_seq do on a fresh
      // schema): from then on the planner trusts the table's actual page count, one page here.
      await db.exec('CREATE INDEX ledger_body ON ledger (body)');
      // Past the five custom plans: the connection now holds a generic plan made for one page.
      for (let i = 0; i < 8; i++) expect((await db.query(sql, [['a1', 'a2']])).rows).toHaveLength(2);
      await db.query("INSERT INTO ledger SELECT 'b' || g, repeat('x', 200) FROM generate_series(1, 20000) g");
      // The cached plan reads every page of the grown table for two rows.
      stale = await buffersOf(db, name, "'{a1,a2}'");
    }
    expect(stale).toBeGreaterThan(500);

    await flushCounters(db);
    expect(await oneRound(db)).toEqual(['ledger']);
    // ANALYZE invalidated the plan: the same prepared statement is now an index lookup.
    expect(await buffersOf(db, name, "'{a1,a2}'")).toBeLessThan(20);
    expect((await db.query(sql, [['a1', 'b20000']])).rows).toHaveLength(2);
  });

  it('leaves a table alone until enough of it changed since its last analysis', async () => {
    const db = await open();
    await db.query("INSERT INTO ledger SELECT 'a' || g, 'x' FROM generate_series(1, 1000) g");
    await flushCounters(db);
    expect(await oneRound(db)).toEqual(['ledger']);
    // 50 + 10 % of 1,000 rows must change before the next analysis (autovacuum's defaults).
    await db.query("INSERT INTO ledger SELECT 'b' || g, 'x' FROM generate_series(1, 100) g");
    await flushCounters(db);
    expect(await oneRound(db)).toEqual([]);
    await db.query("INSERT INTO ledger SELECT 'c' || g, 'x' FROM generate_series(1, 100) g");
    await flushCounters(db);
    expect(await oneRound(db)).toEqual(['ledger']);
  });

  it('leaves a table with a quoted name alone and analyzes the others', async () => {
    const db = await open();
    await db.exec(`CREATE TABLE "Odd; Name" (id int) WITH (autovacuum_enabled = false)`);
    await db.query(`INSERT INTO "Odd; Name" SELECT g FROM generate_series(1, 500) g`);
    await db.query("INSERT INTO ledger SELECT 'a' || g, 'x' FROM generate_series(1, 500) g");
    await flushCounters(db);
    expect(await oneRound(db)).toEqual(['ledger']);
  });

  it('passes over tables its role does not own (ANALYZE would only warn, every round)', async () => {
    const db = await open();
    const role = `custos_t_${randomBytes(4).toString('hex')}`;
    const schema = schemas[schemas.length - 1]!;
    await db.exec(`CREATE ROLE ${role} LOGIN; GRANT USAGE ON SCHEMA ${schema} TO ${role};
      GRANT SELECT, INSERT ON ledger TO ${role};
      CREATE TABLE own (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
      ALTER TABLE own OWNER TO ${role}`);
    const url = new URL(DATABASE_URL);
    url.username = role;
    let asRole: Db | undefined;
    try {
      asRole = await openPostgres({ connectionString: url.toString(), schema, max: 1, statistics: false });
      await asRole.query("INSERT INTO ledger SELECT 'a' || g, 'x' FROM generate_series(1, 500) g");
      await asRole.query('INSERT INTO own SELECT g FROM generate_series(1, 500) g');
      await flushCounters(asRole);
      expect(await oneRound(asRole)).toEqual(['own']);
      // The owner's process analyzes the other one.
      expect(await oneRound(db)).toEqual(['ledger']);
    } finally {
      await asRole?.close();
      // Its table and grants go with it.
      await db.exec(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it('runs by itself on its interval and reports what it analyzed', async () => {
    const db = await open();
    await db.query("INSERT INTO ledger SELECT 'a' || g, 'x' FROM generate_series(1, 500) g");
    await flushCounters(db);
    const analyzed: string[][] = [];
    const upkeep = statisticsUpkeep(db, {
      intervalMs: 50,
      onEvent: (e) => {
        if (e.kind === 'analyzed') analyzed.push(e.tables);
      },
    });
    try {
      await vi.waitFor(() => expect(analyzed).toEqual([['ledger']]), { timeout: 10_000, interval: 50 });
    } finally {
      upkeep.stop();
    }
    const { rows } = await db.query<{ n: string }>(
      "SELECT reltuples::bigint AS n FROM pg_class WHERE oid = 'ledger'::regclass",
    );
    expect(Number(rows[0]!.n)).toBe(500);
  });

  it('samples the columns lookups use, not the payloads (migration 0505)', async () => {
    const backend = postgresBackend();
    try {
      const db = await backend.open();
      await db.query(
        `INSERT INTO wf_jobs (kind, dedup_key, payload, run_at, max_attempts, created_at, updated_at)
         SELECT 'evaluate', 'k' || g, jsonb_build_object('intentId', g), now(), 5, now(), now()
           FROM generate_series(1, 200) g`,
      );
      await db.exec('ANALYZE wf_jobs');
      const { rows } = await db.query<{ attname: string }>(
        "SELECT attname FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'wf_jobs'",
      );
      const columns = rows.map((r) => r.attname);
      expect(columns).toEqual(expect.arrayContaining(['kind', 'dedup_key', 'status', 'run_at']));
      expect(columns).not.toContain('payload');
      expect(columns).not.toContain('last_error');
    } finally {
      await backend.cleanup();
    }
  });
});
