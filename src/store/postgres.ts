import pg from 'pg';
import { CustosError } from '../core/errors/base.ts';
import {
  CHANNEL_RE,
  type Db,
  isStalePreparedPlan,
  type Queryable,
  type QueryResult,
  StatementNames,
} from './db.ts';
import { type StatisticsOptions, statisticsUpkeep } from './statistics.ts';

// int8 (bigint) columns come back as strings by default; keep them exact as bigint-safe strings.
// numeric too. Callers convert with BigInt() where they need arithmetic.

export interface PostgresOptions {
  /**
   * postgres://user@host:port/db over TCP, or over the server's Unix socket with the socket
   * directory as `host`: postgres://postgres@/test?host=/var/run/postgresql (no TCP stack per
   * round trip: about half the client CPU of a pg query on a VM).
   */
  connectionString: string;
  /** Schema to create (if needed) and put first on the search_path: isolates tests and tenants. */
  schema?: string;
  /**
   * Pool size (default 10). Each submit is one statement of well under a millisecond, so a few
   * connections carry hundreds of requests per second; more only add PostgreSQL backends competing
   * for the same cores (on a 2-core machine shared with PostgreSQL, 4-10 is the useful range).
   */
  max?: number;
  /**
   * How long an idle pooled connection is kept (default 5 minutes; node-postgres's own default is
   * 10 s). Each new connection is a new server process that builds its catalog caches and prepares
   * its statements again: with the 10 s default, load arriving in bursts a few seconds apart kept
   * closing and reopening connections (docs/coordinator.md "Database connection" has the numbers).
   */
  idleTimeoutMs?: number;
  statementTimeoutMs?: number;
  /**
   * Send parameterised statements as named prepared statements (default true; see
   * StatementNames). Off only behind a pooler that does not keep a session per client
   * (PgBouncer in transaction mode before 1.21).
   */
  prepare?: boolean;
  /**
   * Keep the planner statistics of the schema's tables that autovacuum does not (default on, every
   * 15 s; see statistics.ts): without them a plan chosen while a table was small stays a scan of
   * the whole table. `false` turns it off (autovacuum or an operator's job keeps them).
   */
  statistics?: false | StatisticsOptions;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const { schema } = options;
  if (schema !== undefined && !SCHEMA_RE.test(schema)) {
    throw new CustosError('INVALID_SCHEMA_NAME', 'schema names are lower-case identifiers', {
      details: { schema },
    });
  }
  // search_path and statement_timeout are set at connection start-up, so every pooled
  // connection agrees; the schema name was checked against SCHEMA_RE above.
  const startup = [
    schema ? `-c search_path=${schema},public` : '',
    `-c statement_timeout=${options.statementTimeoutMs ?? 30_000}`,
  ]
    .filter(Boolean)
    .join(' ');
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    idleTimeoutMillis: options.idleTimeoutMs ?? 300_000,
    options: startup,
  });
  pool.on('error', () => {
    /* idle client errors surface on the next query; never crash the process from here */
  });
  if (schema) {
    // Only when missing: even with IF NOT EXISTS, CREATE SCHEMA needs the CREATE privilege on the
    // database, which a role given an existing schema by its administrator need not have.
    const { rowCount } = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    // Identifier validated above; CREATE SCHEMA takes no bind parameters.
    if (rowCount === 0) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  }
  const statements = options.prepare === false ? undefined : new StatementNames();
  let stopUpkeep: (() => void) | undefined;
  const wrap = (c: pg.Pool | pg.PoolClient, inTransaction: boolean): Queryable => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const values = params as unknown[];
      const name = statements?.nameFor(sql);
      if (!name) return result<R>(await c.query(sql, values));
      try {
        return result<R>(await c.query({ name, text: sql, values }));
      } catch (e) {
        if (!isStalePreparedPlan(e)) throw e;
        statements!.stopNaming(sql);
        // Inside a transaction the error has aborted it: the caller's retry runs it unnamed.
        if (inTransaction) throw e;
        return result<R>(await c.query(sql, values));
      }
    },
    async exec(sql: string): Promise<void> {
      await c.query(sql);
    },
  });
  const base = wrap(pool, false);
  const db: Db = {
    kind: 'postgres',
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(wrap(client, true));
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      stopUpkeep?.();
      await pool.end();
    },
    async listen(channel: string, onNotify: () => void): Promise<() => Promise<void>> {
      if (!CHANNEL_RE.test(channel))
        throw new CustosError('INVALID_CHANNEL_NAME', 'channel names are lower-case identifiers', {
          details: { channel },
        });
      // Its own connection: a pooled one would be handed to someone else between notifications.
      // A lost connection only costs promptness (workers still poll), so errors are swallowed.
      const client = new pg.Client({ connectionString: options.connectionString, options: startup });
      client.on('error', () => undefined);
      client.on('notification', (n) => {
        if (n.channel === channel) onNotify();
      });
      await client.connect();
      await client.query(`LISTEN ${channel}`);
      return async () => {
        await client.end().catch(() => undefined);
      };
    },
  };
  if (options.statistics !== false) stopUpkeep = statisticsUpkeep(db, options.statistics ?? {}).stop;
  return db;
}

function result<R>(r: pg.QueryResult): QueryResult<R> {
  return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
}

/** Drops a schema created by {@link openPostgres} (tests clean up after themselves). */
export async function dropSchema(connectionString: string, schema: string): Promise<void> {
  if (!SCHEMA_RE.test(schema))
    throw new CustosError('INVALID_SCHEMA_NAME', 'bad schema name', { details: { schema } });
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
