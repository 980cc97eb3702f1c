import { afterAll, describe, expect, it, vi } from 'vitest';
import { openPostgres } from '../../src/store/postgres.ts';
import { DATABASE_URL, storeBackends } from '../helpers/db.ts';
import { ChainDouble, CosignerDouble, fixture, idem, makeIntent, submitBody } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 180_000 });
const backends = await storeBackends();

/**
 * Two coordinators (separate connection pools, as two processes would have) on one PostgreSQL
 * schema, both taking API calls and both running workers: every intent completes exactly once —
 * one build, one request per co-signer, one broadcast — whichever process picks up each step.
 * (On PGlite both share the one embedded connection.)
 */
describe.each(backends)('two coordinators on one $name database', (backend) => {
  afterAll(() => backend.cleanup());

  it('share the queue without doing any step twice', async () => {
    const db1 = await backend.open();
    const db2 =
      backend.name === 'postgres'
        ? await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema })
        : db1;
    const cosigners = [new CosignerDouble('cosigner-a'), new CosignerDouble('cosigner-b')];
    const chain = new ChainDouble();
    const shared = { cosigners, chains: new Map([['eip155:31337', chain]]) };
    const one = await fixture(db1, { ...shared, worker: { enabled: true, pollMs: 20, id: 'one' } });
    const two = await fixture(db2, { ...shared, worker: { enabled: true, pollMs: 20, id: 'two' } });
    const intents = Array.from({ length: 6 }, () => makeIntent());
    await Promise.all(
      intents.map((it, i) =>
        (i % 2 ? two : one).c.app.inject({
          method: 'POST',
          url: '/v1/intents',
          headers: idem(),
          payload: submitBody(it),
        }),
      ),
    );
    const deadline = Date.now() + 150_000;
    for (;;) {
      const states = await Promise.all(intents.map(async (it) => (await one.c.intents.get(it.id))!.state));
      if (states.every((s) => s === 'confirmed')) break;
      if (Date.now() > deadline) throw new Error(`not all confirmed: ${states.join(',')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(chain.builds).toBe(6);
    expect(chain.broadcasts).toHaveLength(6);
    expect(new Set(chain.broadcasts).size).toBe(6);
    for (const c of cosigners) {
      const ids = c.requests.map((r) => (r.intent as { id: string }).id);
      expect(new Set(ids).size).toBe(6);
      expect(ids).toHaveLength(6);
    }
    await one.c.close();
    await two.c.close();
    if (db2 !== db1) await db2.close();
  });
});

// LISTEN/NOTIFY is PostgreSQL's (a PGlite database belongs to one process: nothing to wake).
describe.each(backends.filter((b) => b.name === 'postgres'))(
  'split coordinator tiers on $name',
  (backend) => {
    afterAll(() => backend.cleanup());

    // Split tiers: an API-only process (no worker) and a workflow process whose poll is a minute
    // long. The submit is picked up at once only because the API process announces it (NOTIFY) and
    // the workflow process listens (PostgreSQL only; PGlite is one process).
    it('an API-only process wakes the workflow process through NOTIFY', async () => {
      const db1 = await backend.open();
      const db2 = await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema });
      const cosigners = [new CosignerDouble('cosigner-a'), new CosignerDouble('cosigner-b')];
      const chain = new ChainDouble();
      const wakeChannel = `custos_work_${backend.lastSchema}`;
      const shared = { cosigners, chains: new Map([['eip155:31337', chain]]), wakeChannel };
      const api = await fixture(db1, { ...shared, worker: { enabled: false } });
      const flow = await fixture(db2, { ...shared, worker: { enabled: true, pollMs: 60_000, id: 'flow' } });
      // Let the workflow lanes finish their first (empty) look and settle into the minute-long wait.
      await new Promise((r) => setTimeout(r, 500));
      const intent = makeIntent();
      const r = await api.c.app.inject({
        method: 'POST',
        url: '/v1/intents',
        headers: idem(),
        payload: submitBody(intent),
      });
      expect(r.statusCode).toBe(201);
      const deadline = Date.now() + 30_000;
      while ((await api.c.intents.get(intent.id))!.state !== 'confirmed') {
        if (Date.now() > deadline) throw new Error('the workflow process was not woken');
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(chain.broadcasts).toHaveLength(1);
      await api.c.close();
      await flow.c.close();
      await db2.close();
    });
  },
);
