import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import type { StatisticsEvent } from './statistics.ts';

export interface OpenDbOptions {
  /** postgres://… to use a PostgreSQL server; otherwise PGlite. */
  databaseUrl?: string;
  /** PGlite data directory; omitted = in memory. */
  dataDir?: string;
  schema?: string;
  /** PostgreSQL connection pool size (default: see openPostgres). */
  poolSize?: number;
  /** PostgreSQL: how long an idle pooled connection is kept, ms (default: see openPostgres). */
  idleTimeoutMs?: number;
  /** PostgreSQL: named prepared statements (default true; see openPostgres). */
  prepare?: boolean;
  /** PostgreSQL: what the planner-statistics upkeep did (see statistics.ts), for the log. */
  onStatistics?: (e: StatisticsEvent) => void;
  migrate?: boolean;
}

/** Opens the configured backend and applies migrations (unless told not to). */
export async function openDb(options: OpenDbOptions): Promise<Db> {
  const db = options.databaseUrl
    ? await openPostgres({
        connectionString: options.databaseUrl,
        schema: options.schema,
        ...(options.poolSize ? { max: options.poolSize } : {}),
        ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
        ...(options.prepare === false ? { prepare: false } : {}),
        ...(options.onStatistics ? { statistics: { onEvent: options.onStatistics } } : {}),
      })
    : await openPglite({ dataDir: options.dataDir });
  if (options.migrate !== false) {
    try {
      await migrate(db);
    } catch (e) {
      await db.close();
      throw e;
    }
  }
  return db;
}
