import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../../src/store/db.ts';
import { pgliteBackend } from '../../helpers/db.ts';
import { fixture } from '../helpers/fixture.ts';

vi.setConfig({ testTimeout: 120_000 });

const backend = pgliteBackend();
let db: Db;
beforeAll(async () => {
  db = await backend.open();
});
afterAll(() => backend.cleanup());

describe('GET /trust/bundles.json', () => {
  it('serves the chain in force as JSON, and the new chain as soon as the trust view moves on', async () => {
    let chain: unknown[] = [{ version: 1, proposalDigest: 'aa', config: { wallets: [{ id: 'w-1' }] } }];
    const { c } = await fixture(db, { trustChain: () => chain });
    const get = () => c.app.inject({ method: 'GET', url: '/trust/bundles.json' });
    const a = await get();
    expect(a.statusCode).toBe(200);
    expect(a.headers['content-type']).toContain('application/json');
    expect(a.json()).toEqual(chain);
    // Served again from the same chain: the same bytes.
    expect((await get()).body).toBe(a.body);
    chain = [...chain, { version: 2, proposalDigest: 'bb', config: { wallets: [] } }];
    const b = await get();
    expect(b.json()).toEqual(chain);
    expect(b.json()).toHaveLength(2);
    await c.close();
  });

  it('is an empty chain when none is configured', async () => {
    const { c } = await fixture(db);
    const r = await c.app.inject({ method: 'GET', url: '/trust/bundles.json' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual([]);
    await c.close();
  });
});
