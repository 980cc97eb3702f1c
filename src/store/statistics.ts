import { CustosError } from '../core/errors/base.ts';
import type { Db } from './db.ts';

/**
 * Planner statistics for Custos's own tables when autovacuum will not keep them.
 *
 * Every statement Custos sends on PostgreSQL is a named prepared statement (see StatementNames),
 * and a pooled connection keeps the plan it chose for one until something invalidates it. ANALYZE
 * does; autovacuum runs ANALYZE on a table once 50 rows + 10 % of it changed. Without that (the
 * server's `autovacuum = off`, or a table with `autovacuum_enabled = false`) a plan chosen while a
 * table held a page of rows — every table just after the migrations — is a sequential scan, and it
 * stays one however large the table grows: each lookup of a few intents, ledger rows or jobs then
 * reads the whole history (measured on the e2e bench: about a third of PostgreSQL's CPU per
 * withdrawal after a few thousand withdrawals).
 *
 * The upkeep applies autovacuum's own analyze rule (its server-wide threshold and scale factor) to
 * the tables of the connection's schema that autovacuum leaves alone, and analyzes those that are
 * due. ANALYZE only reads a sample (at most 300 × default_statistics_target rows) and takes a lock
 * that does not block reads or writes. One process per schema at a time (a try-lock; the others
 * skip that round), one table per transaction. It does not VACUUM: on such a server dead rows are
 * still only reclaimed by a scheduled vacuum (docs/coordinator.md, "Planner statistics").
 */
export interface StatisticsOptions {
  /** How often to look for tables that are due (default 15 s). */
  intervalMs?: number;
  /** What each round did (for the process's log): rounds that found nothing due are silent. */
  onEvent?: (e: StatisticsEvent) => void;
}

export type StatisticsEvent = { kind: 'analyzed'; tables: string[] } | { kind: 'error'; error: unknown };

export interface StatisticsUpkeep {
  /** One round now: analyzes the tables that are due; returns their names. */
  tick(): Promise<string[]>;
  stop(): void;
}

export const DEFAULT_STATISTICS_INTERVAL_MS = 15_000;

/** Advisory lock class of the upkeep (the object id is the schema's hash): one runner per schema. */
const UPKEEP_LOCK_CLASS = 0x43_53_0a;

/**
 * The tables of the current schema that autovacuum will not analyze, that changed enough since
 * their last analysis, and that this role may analyze (a table it does not own would only draw a
 * warning, and the same table again every round). The schema is matched first, so that change
 * counters are read for its tables only (the `pg_stat_user_tables` view reads every table's: 4–9 ms
 * a round). Plain lower-case names only: every Custos table has one, and those are what the
 * ANALYZE statement is built from (a table someone created with a quoted name is left alone).
 */
const DUE_SQL = `
  SELECT c.relname AS name, format('%I.%I', current_schema(), c.relname) AS ident
    FROM pg_class c
   WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
     AND c.relkind IN ('r', 'p')
     AND c.relname ~ '^[a-z_][a-z0-9_]*$'
     AND pg_has_role(c.relowner, 'USAGE')
     AND (current_setting('autovacuum') = 'off'
          OR EXISTS (SELECT 1 FROM unnest(c.reloptions) o
                      WHERE o ~* '^autovacuum_enabled=(f|fa|fal|fals|false|n|no|of|off|0)$'))
     AND pg_stat_get_mod_since_analyze(c.oid) >= current_setting('autovacuum_analyze_threshold')::float8
           + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)
   ORDER BY c.relname`;

const PLAIN_TABLE = /^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$/;

export function statisticsUpkeep(db: Db, options: StatisticsOptions = {}): StatisticsUpkeep {
  let running: Promise<string[]> | undefined;
  // Each table in its own short transaction: the upkeep never holds one table's lock while waiting
  // for another's (no deadlock with a migration's DDL), and gives up on a table whose lock is not
  // free within a second (the next round retries it).
  const analyze = (ident: string) => {
    // ANALYZE takes no bind parameters: only a plain schema.table from the catalog (DUE_SQL) is
    // ever put into the statement.
    if (!PLAIN_TABLE.test(ident))
      throw new CustosError('INVALID_TABLE_NAME', 'not a plain schema.table name', { details: { ident } });
    return db.transaction(async (tx) => {
      const { rows: lock } = await tx.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1::int, hashtext(current_schema())) AS ok',
        [UPKEEP_LOCK_CLASS],
      );
      if (!lock[0]?.ok) return false;
      await tx.exec(`SET LOCAL lock_timeout = '1s'; ANALYZE ${ident}`);
      return true;
    });
  };
  const round = async () => {
    const { rows } = await db.query<{ name: string; ident: string }>(DUE_SQL);
    const analyzed: string[] = [];
    for (const r of rows) {
      // Another process is analyzing this schema: its round covers the rest.
      if (!(await analyze(r.ident))) break;
      analyzed.push(r.name);
    }
    return analyzed;
  };
  const tick = (): Promise<string[]> => {
    // One round at a time in this process (a slow ANALYZE must not stack rounds).
    running ??= round().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => {
    if (running) return;
    tick().then(
      (tables) => {
        if (tables.length > 0) options.onEvent?.({ kind: 'analyzed', tables });
      },
      (error: unknown) => options.onEvent?.({ kind: 'error', error }),
    );
  }, options.intervalMs ?? DEFAULT_STATISTICS_INTERVAL_MS);
  timer.unref();
  return { tick, stop: () => clearInterval(timer) };
}
