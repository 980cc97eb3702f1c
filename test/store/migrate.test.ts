import { afterAll, describe, expect, it, vi } from 'vitest';
import { CORE_MIGRATIONS_DIR, loadMigrations, migrate } from '../../src/store/migrate.ts';
import { storeBackends } from '../helpers/db.ts';

const backends = await storeBackends();
// PGlite (WASM) on a shared 2-core machine can be slow: correctness here, speed in the bench.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

describe.each(backends)('store on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('applies every migration once and records it', async () => {
    const db = await backend.open();
    const { rows } = await db.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => r.version)).toEqual(loadMigrations(CORE_MIGRATIONS_DIR).map((m) => m.version));
    expect(await migrate(db)).toEqual([]);
  });

  it('refuses to run against a newer schema', async () => {
    const db = await backend.open();
    await db.query(
      "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'from_the_future', 'x')",
    );
    await expect(migrate(db)).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW' });
  });

  it('refuses an applied migration whose text changed', async () => {
    const db = await backend.open();
    await db.query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
    await expect(migrate(db)).rejects.toMatchObject({ code: 'MIGRATION_CHANGED' });
  });

  it('binds parameters and rolls back a failed transaction whole', async () => {
    const db = await backend.open();
    await db.exec('CREATE TABLE t (k text PRIMARY KEY, v text)');
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES ($1, $2)', ["a'; DROP TABLE t; --", 'x']);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await db.query('SELECT * FROM t')).rows).toEqual([]);
    await db.transaction((tx) => tx.query('INSERT INTO t VALUES ($1, $2)', ["a'; DROP TABLE t; --", 'x']));
    expect((await db.query<{ k: string }>('SELECT k FROM t')).rows[0]!.k).toBe("a'; DROP TABLE t; --");
  });

  it('refuses UPDATE, DELETE and TRUNCATE on the audit log', async () => {
    const db = await backend.open();
    await db.query(
      "INSERT INTO audit_log (seq, at, kind, actor, subject, body, prev_hash, hash) VALUES (1, 'a', 'k', 'x', 's', '{}', 'p', 'h')",
    );
    await expect(db.query("UPDATE audit_log SET kind = 'z'")).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(db.exec('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
  });
});
