import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { dropSchema, openPostgres } from '../../src/store/postgres.ts';
import { requirement } from './require.ts';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function postgresReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

let pgAvailable: Promise<boolean> | undefined;

/** Whether PostgreSQL tests run in this process (loud skip, or failure under CUSTOS_REQUIRE_ALL=1). */
export async function postgresAvailable(): Promise<boolean> {
  if (process.env.CUSTOS_SKIP_POSTGRES === '1') {
    return requirement('PostgreSQL', false, 'apt-get install postgresql (and set DATABASE_URL)');
  }
  pgAvailable ??= postgresReachable().then((ok) =>
    requirement(
      `PostgreSQL at ${DATABASE_URL}`,
      ok,
      'apt-get install postgresql && pg_ctlcluster 15 main start',
    ),
  );
  return pgAvailable;
}

export interface Backend {
  name: 'pglite' | 'postgres';
  /** A fresh, migrated, isolated database (a new PGlite, or a new schema on PostgreSQL). */
  open(opts?: { migrate?: boolean }): Promise<Db>;
  /** Closes every database this backend opened and drops PostgreSQL schemas. */
  cleanup(): Promise<void>;
  /** PostgreSQL only: the schema of the last database opened (for superuser tampering tests). */
  lastSchema?: string;
}

export function pgliteBackend(): Backend {
  const opened: Db[] = [];
  return {
    name: 'pglite',
    async open(opts) {
      const db = await openPglite();
      if (opts?.migrate !== false) await migrate(db);
      opened.push(db);
      return db;
    },
    async cleanup() {
      await Promise.all(opened.splice(0).map((d) => d.close()));
    },
  };
}

export function postgresBackend(): Backend {
  const opened: { db: Db; schema: string }[] = [];
  const backend: Backend = {
    name: 'postgres',
    async open(opts) {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      const db = await openPostgres({ connectionString: DATABASE_URL, schema });
      if (opts?.migrate !== false) await migrate(db);
      opened.push({ db, schema });
      backend.lastSchema = schema;
      return db;
    },
    async cleanup() {
      for (const { db, schema } of opened.splice(0)) {
        await db.close();
        await dropSchema(DATABASE_URL, schema);
      }
    },
  };
  return backend;
}

/**
 * The backends every store test runs on. PGlite always; PostgreSQL when reachable (top-level
 * await in the test file: `const backends = await storeBackends();` then `describe.each`).
 */
export async function storeBackends(): Promise<Backend[]> {
  const list = [pgliteBackend()];
  if (await postgresAvailable()) list.push(postgresBackend());
  return list;
}
