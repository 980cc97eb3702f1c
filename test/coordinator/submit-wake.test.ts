import { afterAll, describe, expect, it, vi } from 'vitest';
import { WAKE_SQL } from '../../src/coordinator/coordinator.ts';
import type { Db } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { countingDb } from '../helpers/counting-db.ts';
import { DATABASE_URL, storeBackends } from '../helpers/db.ts';
import { ChainDouble, CosignerDouble, fixture, idem, makeIntent, submitBody } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 180_000 });
const backends = await storeBackends();

/** Least time between two announcements (WAKE_GAP_MS in src/coordinator/coordinator.ts). */
const GAP_MS = 20;

// LISTEN/NOTIFY is PostgreSQL's (a PGlite database belongs to one process: nothing to wake).
describe.each(backends.filter((b) => b.name === 'postgres'))(
  'an API-only process announcing submits on $name',
  (backend) => {
    afterAll(() => backend.cleanup());

    // The workflow process polls once a minute: only the API process's NOTIFY gets an intent
    // evaluated within the test. Announcements are throttled (at once after a quiet spell, then at
    // most one per GAP_MS); the one due at the end of a burst must still be sent, or the burst's
    // last intents would wait for the next poll.
    it('throttles NOTIFY without stranding the last intents of a burst', async () => {
      const raw = await backend.open();
      const counted = countingDb(raw);
      const apiDb: Db = { ...counted, listen: raw.listen!.bind(raw) };
      const flowDb = await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema });
      const cosigners = [new CosignerDouble('cosigner-a'), new CosignerDouble('cosigner-b')];
      const chain = new ChainDouble();
      const wakeChannel = `custos_work_${backend.lastSchema}`;
      const shared = { cosigners, chains: new Map([['eip155:31337', chain]]), wakeChannel };
      const api = await fixture(apiDb, { ...shared, worker: { enabled: false } });
      const flow = await fixture(flowDb, {
        ...shared,
        worker: { enabled: true, pollMs: 60_000, id: 'flow' },
      });
      // Let the workflow lanes finish their first (empty) look and settle into the minute-long wait.
      await new Promise((r) => setTimeout(r, 500));
      const notifies = () => counted.log.filter((s) => s.includes('pg_notify')).length;

      const intents = Array.from({ length: 12 }, () => makeIntent());
      const bodies = intents.map((i) => submitBody(i));
      const t0 = performance.now();
      // Two bursts: all at once, then one by one.
      const first = await Promise.all(
        bodies
          .slice(0, 6)
          .map((payload) =>
            api.c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload }),
          ),
      );
      const rest = [];
      for (const payload of bodies.slice(6)) {
        rest.push(await api.c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload }));
      }
      const elapsed = performance.now() - t0;
      expect([...first, ...rest].map((r) => r.statusCode)).toEqual(intents.map(() => 201));
      const deadline = Date.now() + 60_000;
      for (;;) {
        const states = await Promise.all(intents.map(async (i) => (await api.c.intents.get(i.id))!.state));
        if (states.every((s) => s === 'confirmed')) break;
        if (Date.now() > deadline) throw new Error(`not woken for every intent: ${states.join(',')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // At least one announcement, and never more than one per GAP_MS (plus the first, at once).
      const sent = notifies();
      expect(sent).toBeGreaterThanOrEqual(1);
      expect(sent).toBeLessThanOrEqual(Math.floor(elapsed / GAP_MS) + 2);
      expect(sent).toBeLessThanOrEqual(intents.length);
      await api.c.close();
      await flow.c.close();
      await flowDb.close();
    });

    // A wake-up hint needs no durability: its transaction must not wait for a WAL flush of its own
    // (a NOTIFY's commit did, queued with every submit's), and the setting must not outlive it on
    // the pooled connection, whose next transaction may be a submit that must be durable.
    it('an announcement commits without waiting for a flush, and only that transaction', async () => {
      await backend.open();
      const db = await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema, max: 1 });
      try {
        const channel = `custos_hint_${backend.lastSchema}`;
        let heard = 0;
        const stop = await db.listen!(channel, () => heard++);
        const { rows } = await db.query<{ set_config: string }>(WAKE_SQL, [channel, '']);
        expect(rows[0]!.set_config).toBe('off');
        const after = await db.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
        expect(after.rows[0]!.synchronous_commit).toBe('on');
        await db.query(WAKE_SQL, [channel, '']);
        const deadline = Date.now() + 5000;
        while (heard < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        expect(heard).toBe(2);
        await stop();
      } finally {
        await db.close();
      }
    });
  },
);
