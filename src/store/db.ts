import { createHash } from 'node:crypto';

/**
 * The one storage interface Custos code talks to. Two implementations: PostgreSQL through `pg`
 * (production, several processes on one database) and embedded PGlite (the default for a newcomer,
 * for a co-signer's own store, and for tests). SQL is written once and runs on both.
 *
 * Every value goes in as a bound parameter ($1, $2, …); no query is built from user data.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * PostgreSQL LISTEN on a dedicated connection: `onNotify` runs for every NOTIFY on `channel`
   * (`SELECT pg_notify(channel, '')` from any process). Absent on PGlite (one process only).
   * Returns the function that stops listening.
   */
  listen?(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
}

/** Channel names are plain identifiers (LISTEN takes no bind parameter). */
export const CHANNEL_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Transaction-scoped advisory lock (released at commit/rollback). Keys are stable per purpose. */
export async function advisoryXactLock(tx: Queryable, key: bigint): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [key.toString()]);
}

/** Well-known advisory lock keys (arbitrary 63-bit constants, one per serialized purpose). */
export const LOCKS = {
  migrations: 0x4355_5354_4f53_0001n,
  auditAppend: 0x4355_5354_4f53_0002n,
} as const;

/**
 * PostgreSQL prepared-statement names, one per statement text, per pool. Every parameterised
 * statement Custos sends is a constant text with bound values (see the top of this file), so the
 * set of texts is small and fixed: each pooled connection parses and plans a text once and later
 * executions only bind and execute. On the workflow's batch statements (multi-row `unnest`
 * writes, CTEs) parse and plan were most of PostgreSQL's CPU per withdrawal at a steady rate.
 *
 * Two guards: past `max` distinct texts, statements go unnamed (a connection keeps every statement
 * it prepared, so a text built from varying pieces must not grow that without bound); and a text
 * whose cached plan the server refuses after a schema change ("cached plan must not change result
 * type", e.g. a column added under a running `SELECT *`) is sent unnamed from then on.
 */
export class StatementNames {
  private readonly names = new Map<string, string>();
  private readonly unnamed = new Set<string>();

  constructor(private readonly max = 1000) {}

  /** The name to prepare `sql` under, or undefined to send it unnamed. */
  nameFor(sql: string): string | undefined {
    const hit = this.names.get(sql);
    if (hit) return hit;
    if (this.unnamed.has(sql) || this.names.size >= this.max) return undefined;
    const name = `custos_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    this.names.set(sql, name);
    return name;
  }

  /** From now on `sql` goes unnamed (its prepared plan was refused). */
  stopNaming(sql: string): void {
    this.names.delete(sql);
    this.unnamed.add(sql);
  }

  get size(): number {
    return this.names.size;
  }
}

/** PostgreSQL refused a prepared statement whose result columns changed under it (SQLSTATE 0A000). */
export function isStalePreparedPlan(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  return (
    err?.code === '0A000' &&
    typeof err.message === 'string' &&
    err.message.includes('cached plan must not change result type')
  );
}
