import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { NONCE_SQL, recordNonce } from '../../src/cosigner/ledger.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { DATABASE_URL, storeBackends } from '../helpers/db.ts';
import { migrateCosigner } from './fixture.ts';

const backends = await storeBackends();

/**
 * The request-nonce insert (replay protection) commits without a WAL flush of its own (see
 * recordNonce): visible at once to every later request, the setting confined to its own
 * transaction so that the pooled connection's next transaction — a ledger commit — is durable.
 */
describe.each(backends)('request nonces on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('a nonce is accepted once, then refused as a replay', async () => {
    const db = await migrateCosigner(await backend.open({ migrate: false }));
    const nonce = randomBytes(16).toString('base64url');
    expect(await recordNonce(db, 'coordinator-1', nonce, Date.now())).toBe(true);
    expect(await recordNonce(db, 'coordinator-1', nonce, Date.now())).toBe(false);
    // The same nonce from another key is another request.
    expect(await recordNonce(db, 'coordinator-2', nonce, Date.now())).toBe(true);
  });

  it('its own transaction is asynchronous, and only that one', async () => {
    const db = await migrateCosigner(await backend.open({ migrate: false }));
    // On PostgreSQL a pool of one connection, so the next statement runs where the insert ran.
    const one =
      backend.name === 'postgres'
        ? await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema, max: 1 })
        : db;
    try {
      const { rows } = await one.query<{ setting: string }>(NONCE_SQL, ['k', 'n-1', Date.now()]);
      expect(rows).toEqual([{ setting: 'off' }]);
      const after = await one.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      expect(after.rows[0]!.synchronous_commit).toBe('on');
      // A replay inserts nothing (and returns nothing).
      expect((await one.query(NONCE_SQL, ['k', 'n-1', Date.now()])).rows).toEqual([]);
      // Committed: another connection sees it at once.
      const seen = await db.query('SELECT 1 FROM cosigner_request_nonces WHERE key_id = $1 AND nonce = $2', [
        'k',
        'n-1',
      ]);
      expect(seen.rows).toHaveLength(1);
    } finally {
      if (one !== db) await one.close();
    }
  });
});
