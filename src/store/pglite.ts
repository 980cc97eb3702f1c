import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.ts';

export interface PgliteOptions {
  /** Directory for a file-backed database; omit for in-memory (tests). */
  dataDir?: string;
}

/**
 * Embedded PostgreSQL (PGlite, WASM). One connection, so transactions are serialized by PGlite
 * itself; advisory locks still work and are simply uncontended.
 */
export async function openPglite(options: PgliteOptions = {}): Promise<Db> {
  const pglite = options.dataDir ? new PGlite(options.dataDir) : new PGlite();
  await pglite.waitReady;
  const wrap = (c: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const r = await c.query<R>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await c.exec(sql);
    },
  });
  const base = wrap(pglite);
  return {
    kind: 'pglite',
    query: base.query,
    exec: base.exec,
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return pglite.transaction((tx) => fn(wrap(tx)));
    },
    async close() {
      await pglite.close();
    },
  };
}
