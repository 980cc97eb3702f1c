import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { CustosError } from '../core/errors/base.ts';
import { advisoryXactLock, type Db, LOCKS } from './db.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Loads `NNNN_name.sql` files from a directory, ordered by version. */
export function loadMigrations(dir: string): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir)) {
    const m = FILE_RE.exec(file);
    if (!m) continue;
    const sql = readFileSync(join(dir, file), 'utf8');
    out.push({ version: Number(m[1]), name: m[2]!, sql, checksum: bytesToHex(sha256(utf8ToBytes(sql))) });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) {
      throw new CustosError('MIGRATION_DUPLICATE', 'two migrations share a version', {
        details: { version: out[i]!.version },
      });
    }
  }
  return out;
}

export const CORE_MIGRATIONS_DIR = new URL('./migrations/', import.meta.url).pathname;

/**
 * Applies pending migrations in one transaction each, under an advisory lock so several
 * coordinators starting at once do not race. Refuses to run when the database has a migration
 * this code does not know (a newer schema: an older binary must not write into it) or when an
 * applied migration's text has changed (its checksum).
 */
export async function migrate(
  db: Db,
  migrations: Migration[] = loadMigrations(CORE_MIGRATIONS_DIR),
): Promise<number[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  return db.transaction(async (tx) => {
    await advisoryXactLock(tx, LOCKS.migrations);
    const { rows } = await tx.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
    );
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const row of rows) {
      const m = known.get(row.version);
      if (!m) {
        throw new CustosError(
          'SCHEMA_TOO_NEW',
          'the database has a migration this version of Custos does not know',
          {
            details: { version: row.version, name: row.name },
          },
        );
      }
      if (m.checksum !== row.checksum) {
        throw new CustosError('MIGRATION_CHANGED', 'an applied migration was edited after it ran', {
          details: { version: row.version, name: row.name },
        });
      }
    }
    const applied = new Set(rows.map((r) => r.version));
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum,
      ]);
      done.push(m.version);
    }
    return done;
  });
}
