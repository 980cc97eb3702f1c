import type { Db, Queryable, QueryResult } from '../../src/store/db.ts';

/**
 * A Db that counts the statements (round trips) it sends: every query/exec is one, a transaction
 * adds its BEGIN and COMMIT on PostgreSQL (PGlite runs them in-process, but they are counted the
 * same so one number describes both). Deterministic, unlike timing: tests use it to pin how many
 * round trips a request costs.
 */
export interface CountingDb extends Db {
  /** Statements sent so far (including BEGIN/COMMIT of transactions). */
  readonly statements: number;
  /** The SQL text of every statement, in order (BEGIN/COMMIT included). */
  readonly log: string[];
}

export function countingDb(inner: Db): CountingDb {
  const log: string[] = [];
  const wrap = (q: Queryable): Queryable => ({
    query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      log.push(sql);
      return q.query<R>(sql, params);
    },
    exec(sql: string): Promise<void> {
      log.push(sql);
      return q.exec(sql);
    },
  });
  const base = wrap(inner);
  return {
    kind: inner.kind,
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      log.push('BEGIN');
      try {
        return await inner.transaction((tx) => fn(wrap(tx)));
      } finally {
        log.push('COMMIT');
      }
    },
    close: () => inner.close(),
    get statements() {
      return log.length;
    },
    log,
  };
}
