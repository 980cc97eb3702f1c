import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, isStalePreparedPlan, StatementNames } from '../../src/store/db.ts';
import { dropSchema, openPostgres } from '../../src/store/postgres.ts';
import { DATABASE_URL, postgresAvailable } from '../helpers/db.ts';

describe('StatementNames', () => {
  it('gives one stable name per text, none past the cap, none after stopNaming', () => {
    const names = new StatementNames(2);
    const a = names.nameFor('SELECT $1::int AS a');
    expect(a).toMatch(/^custos_[0-9a-f]{24}$/);
    expect(names.nameFor('SELECT $1::int AS a')).toBe(a);
    expect(names.nameFor('SELECT $1::int AS b')).not.toBe(a);
    expect(names.nameFor('SELECT $1::int AS c')).toBeUndefined();
    names.stopNaming('SELECT $1::int AS a');
    expect(names.nameFor('SELECT $1::int AS a')).toBeUndefined();
    expect(names.size).toBe(1);
  });
});

/** On PostgreSQL: what the server holds per connection, and a schema change under a prepared `*`. */
describe.runIf(await postgresAvailable())('prepared statements on PostgreSQL', () => {
  const schema = `prep_${randomBytes(4).toString('hex')}`;
  let db: Db;
  beforeAll(async () => {
    // One connection, so the statements below meet the ones prepared before them.
    db = await openPostgres({ connectionString: DATABASE_URL, schema, max: 1 });
    await db.exec('CREATE TABLE t (id int PRIMARY KEY, a text); INSERT INTO t VALUES (1, $$one$$)');
  });
  afterAll(async () => {
    await db.close();
    await dropSchema(DATABASE_URL, schema);
  });

  const prepared = async () =>
    (await db.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements')).rows.map(
      (r) => r.statement,
    );

  it('a parameterised statement is parsed once per connection and then only bound', async () => {
    const sql = 'SELECT a FROM t WHERE id = $1';
    for (let i = 0; i < 3; i++) expect((await db.query(sql, [1])).rows).toEqual([{ a: 'one' }]);
    const held = await prepared();
    expect(held.filter((s) => s === sql)).toHaveLength(1);
    // The same text inside a transaction reuses it (same pool, same name).
    await db.transaction((tx) => tx.query(sql, [1]));
    expect((await prepared()).filter((s) => s === sql)).toHaveLength(1);
  });

  it('a column added under a prepared `SELECT *`: the next call answers with it, unnamed from then on', async () => {
    const sql = 'SELECT * FROM t WHERE id = $1';
    expect((await db.query(sql, [1])).rows).toEqual([{ id: 1, a: 'one' }]);
    await db.exec('ALTER TABLE t ADD COLUMN b text');
    // Outside a transaction the refused plan is retried unnamed at once.
    expect((await db.query(sql, [1])).rows).toEqual([{ id: 1, a: 'one', b: null }]);
    await db.exec('ALTER TABLE t ADD COLUMN c text');
    // Unnamed now: a second change is no error at all, in a transaction too.
    const rows = await db.transaction(async (tx) => (await tx.query(sql, [1])).rows);
    expect(rows).toEqual([{ id: 1, a: 'one', b: null, c: null }]);
  });

  it('inside a transaction the refusal aborts it (the caller retries); the retry runs unnamed', async () => {
    const sql = 'SELECT t.* FROM t WHERE id = $1';
    await db.query(sql, [1]);
    await db.exec('ALTER TABLE t ADD COLUMN d text');
    const err = await db.transaction((tx) => tx.query(sql, [1])).catch((e: unknown) => e);
    expect(isStalePreparedPlan(err)).toBe(true);
    const rows = await db.transaction(async (tx) => (await tx.query(sql, [1])).rows);
    expect(rows[0]).toMatchObject({ id: 1, d: null });
  });

  it('prepare: false sends every statement unnamed', async () => {
    const plain = await openPostgres({ connectionString: DATABASE_URL, schema, max: 1, prepare: false });
    try {
      await plain.query('SELECT a FROM t WHERE id = $1 AND a IS NOT NULL', [1]);
      const { rows } = await plain.query('SELECT count(*)::int AS n FROM pg_prepared_statements');
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await plain.close();
    }
  });
});
