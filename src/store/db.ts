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

const named = new Map<string, string>();
const names = new Set<string>();

/**
 * Marks a hot statement to be sent as a named prepared statement on PostgreSQL: each pooled
 * connection parses and plans it once, later executions only bind (about half the server CPU of a
 * large CTE on every call). Returns `sql` unchanged; PGlite ignores the mark. One name, one text.
 */
export function preparedStatement(name: string, sql: string): string {
  if (names.has(name) && named.get(sql) !== name) {
    throw new Error(`prepared statement name ${name} is already used for another statement`);
  }
  named.set(sql, name);
  names.add(name);
  return sql;
}

/** The prepared-statement name registered for `sql`, if any (see {@link preparedStatement}). */
export function preparedName(sql: string): string | undefined {
  return named.get(sql);
}
