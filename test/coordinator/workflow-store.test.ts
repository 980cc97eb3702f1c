import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { IdempotencyStore } from '../../src/store/workflow/idempotency.ts';
import { IntentStore } from '../../src/store/workflow/intents.ts';
import { Outbox } from '../../src/store/workflow/outbox.ts';
import { backoffMs, JobQueue } from '../../src/store/workflow/queue.ts';
import { DATABASE_URL, storeBackends } from '../helpers/db.ts';
import { auditDouble } from './helpers/audit-double.ts';
import { at, newIntent, T0 } from './helpers/new-intent.ts';

// Each test opens a fresh database; on a loaded 2-core machine PGlite start-up alone can take seconds.
vi.setConfig({ testTimeout: 120_000 });
const backends = await storeBackends();

describe.each(backends)('workflow store on $name', (backend) => {
  afterAll(() => backend.cleanup());

  async function setup(db?: Db) {
    const d = db ?? (await backend.open());
    const audit = await auditDouble(d);
    return {
      db: d,
      audit,
      intents: new IntentStore(d, audit),
      queue: new JobQueue(d),
      outbox: new Outbox(d),
    };
  }

  it('creates an intent once; a second create with the same id or digest is refused', async () => {
    const { intents, audit } = await setup();
    const n = newIntent();
    const r = await intents.create(n, T0);
    expect(r.ok && r.value.state).toBe('requested');
    expect(await intents.create(n, T0)).toMatchObject({ ok: false, code: 'DUPLICATE_INTENT' });
    expect(await intents.create({ ...newIntent(), digest: n.digest }, T0)).toMatchObject({
      ok: false,
      code: 'DUPLICATE_INTENT',
    });
    expect((await audit.entries()).map((e) => e.kind)).toEqual(['intent.requested']);
  });

  it('persists transitions with history and audit entries; refuses illegal edges without writing', async () => {
    const { intents, audit } = await setup();
    const n = newIntent();
    await intents.create(n, T0);
    const a = await intents.transition(n.id, { event: 'policy_requires_approval', actor: 'policy' }, at(1));
    expect(a).toMatchObject({ ok: true, value: { state: 'pending_approval', version: 1 } });
    const bad = await intents.transition(n.id, { event: 'signed', actor: 'x' }, at(2));
    expect(bad).toMatchObject({ ok: false, code: 'ILLEGAL_TRANSITION' });
    const c = await intents.transition(n.id, { event: 'cancel', actor: 'svc-backoffice' }, at(3));
    expect(c).toMatchObject({ ok: true, value: { state: 'cancelled', version: 2 } });
    expect(await intents.transition(n.id, { event: 'quorum_met', actor: 'x' }, at(4))).toMatchObject({
      ok: false,
      code: 'TERMINAL_STATE',
    });
    expect((await intents.history(n.id)).map((h) => h.to)).toEqual([
      'requested',
      'pending_approval',
      'cancelled',
    ]);
    expect((await audit.entries()).map((e) => e.kind)).toEqual([
      'intent.requested',
      'intent.pending_approval',
      'intent.cancelled',
    ]);
  });

  it('a transition whose audit append fails leaves no trace (one transaction)', async () => {
    const db = await backend.open();
    const intents0 = new IntentStore(db, await auditDouble(db));
    const n = newIntent();
    await intents0.create(n, T0);
    const failing = new IntentStore(db, {
      async appendInTx() {
        throw new Error('audit store down');
      },
    });
    await expect(
      failing.transition(n.id, { event: 'policy_allowed', actor: 'policy' }, at(1)),
    ).rejects.toThrow('audit store down');
    const after = await intents0.get(n.id);
    expect(after).toMatchObject({ state: 'requested', version: 0 });
    expect(await intents0.history(n.id)).toHaveLength(1);
  });

  it('expectVersion refuses a stale writer', async () => {
    const { intents } = await setup();
    const n = newIntent();
    await intents.create(n, T0);
    await intents.transition(
      n.id,
      { event: 'policy_requires_approval', actor: 'p', expectVersion: 0 },
      at(1),
    );
    expect(
      await intents.transition(n.id, { event: 'cancel', actor: 'p', expectVersion: 0 }, at(2)),
    ).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' });
  });

  it('pages by cursor newest first without gaps or repeats, filtered by state', async () => {
    const { intents } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const n = newIntent();
      ids.push(n.id);
      await intents.create(n, at(i));
    }
    const seen: string[] = [];
    let cursor: { createdAt: string; id: string } | undefined;
    for (;;) {
      const page = await intents.list({ limit: 3, after: cursor });
      seen.push(...page.items.map((i) => i.id));
      if (!page.next) break;
      cursor = page.next;
    }
    expect(seen).toEqual([...ids].reverse());
    await intents.transition(ids[2]!, { event: 'policy_blocked', actor: 'p' }, at(10));
    expect((await intents.list({ limit: 10, state: 'blocked' })).items.map((i) => i.id)).toEqual([ids[2]]);
    expect(await intents.countByState()).toEqual({ requested: 6, blocked: 1 });
  });

  it('enqueues the next job in the same transaction as the transition, deduplicated by key', async () => {
    const { intents, queue } = await setup();
    const n = newIntent();
    await intents.create(n, T0, {
      enqueue: [{ kind: 'evaluate', payload: { id: n.id }, dedupKey: `evaluate:${n.id}` }],
    });
    await queue.enqueue({ kind: 'evaluate', payload: { id: n.id }, dedupKey: `evaluate:${n.id}` }, T0);
    const jobs = await queue.claim({ worker: 'w', limit: 10, visibilityMs: 1000, now: T0 });
    expect(jobs.map((j) => j.kind)).toEqual(['evaluate']);
  });

  it('queue: lease expiry makes a job visible again and fences the old holder', async () => {
    const { queue } = await setup();
    await queue.enqueue({ kind: 'k', payload: { a: 1 }, maxAttempts: 3 }, T0);
    const [j1] = await queue.claim({ worker: 'a', limit: 1, visibilityMs: 5000, now: T0 });
    expect(j1).toBeDefined();
    expect(await queue.claim({ worker: 'b', limit: 1, visibilityMs: 5000, now: at(1) })).toEqual([]);
    const [j2] = await queue.claim({ worker: 'b', limit: 1, visibilityMs: 5000, now: at(6) });
    expect(j2?.lease).toBe(2);
    expect(await queue.complete(j1!)).toBe(false);
    expect(await queue.complete(j2!)).toBe(true);
    expect(await queue.claim({ worker: 'c', limit: 1, visibilityMs: 5000, now: at(100) })).toEqual([]);
  });

  it('queue: retries with exponential backoff, then buries the job as dead', async () => {
    const { queue } = await setup();
    await queue.enqueue({ kind: 'k', payload: {}, maxAttempts: 3 }, T0);
    let now = T0;
    const delays: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const [j] = await queue.claim({ worker: 'w', limit: 1, visibilityMs: 1000, now });
      expect(j?.attempts).toBe(i);
      const status = await queue.fail(j!, { code: 'COSIGNER_UNAVAILABLE', message: 'down' }, now);
      expect(status).toBe(i < 3 ? 'queued' : 'dead');
      delays.push(backoffMs(i));
      // Not claimable before its backoff elapses.
      expect(
        await queue.claim({
          worker: 'w',
          limit: 1,
          visibilityMs: 1000,
          now: new Date(now.getTime() + backoffMs(i) - 1),
        }),
      ).toEqual([]);
      now = new Date(now.getTime() + backoffMs(i));
    }
    expect(delays).toEqual([500, 1000, 2000]);
    expect(await queue.stats()).toEqual({ dead: 1 });
  });

  it('queue: concurrent claimers on separate connections never take the same job', async () => {
    const { db, queue } = await setup();
    for (let i = 0; i < 40; i++) await queue.enqueue({ kind: 'k', payload: { i } }, T0);
    // A second pool on PostgreSQL (like a second coordinator process); PGlite is one connection.
    const pool2 =
      backend.name === 'postgres'
        ? await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema })
        : undefined;
    const other = pool2 ? new JobQueue(pool2) : queue;
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, w) =>
        (w % 2 ? other : queue).claim({ worker: `w${w}`, limit: 7, visibilityMs: 60_000, now: at(1) }),
      ),
    );
    await pool2?.close();
    void db;
    const ids = claims.flat().map((j) => j.id);
    expect(ids.length).toBe(40);
    expect(new Set(ids).size).toBe(40);
  });

  it('outbox: same content is resumed, different content for the same step is refused', async () => {
    const { intents, outbox } = await setup();
    const n = newIntent();
    await intents.create(n, T0);
    const req = { to: '0xabc', value: '10', nonce: 4 };
    const first = await outbox.record(n.id, 'sign:cosigner-a', req, T0);
    expect(first).toMatchObject({ ok: true, value: { status: 'pending' } });
    // Key order does not matter (canonical JSON), content does.
    expect(
      await outbox.record(n.id, 'sign:cosigner-a', { nonce: 4, value: '10', to: '0xabc' }, at(1)),
    ).toMatchObject({ ok: true });
    expect(await outbox.record(n.id, 'sign:cosigner-a', { ...req, to: '0xdef' }, at(2))).toMatchObject({
      ok: false,
      code: 'OUTBOX_CONTENT_MISMATCH',
    });
    const settled = await outbox.settle(n.id, 'sign:cosigner-a', 'done', { sig: 'aa' }, at(3));
    const again = await outbox.settle(n.id, 'sign:cosigner-a', 'done', { sig: 'bb' }, at(4));
    expect(settled.result).toEqual({ sig: 'aa' });
    expect(again.result).toEqual({ sig: 'aa' });
  });

  it('outbox recordAttempt: records once, counts attempts, refuses other content, keeps the first result', async () => {
    const { intents, outbox } = await setup();
    const n = newIntent();
    await intents.create(n, T0);
    const req = { to: '0xabc', value: '10', nonce: 4 };
    expect(await outbox.recordAttempt(n.id, 'sign:cosigner-b', req, T0)).toMatchObject({
      ok: true,
      value: { status: 'pending', attempts: 1 },
    });
    expect(
      await outbox.recordAttempt(n.id, 'sign:cosigner-b', { nonce: 4, value: '10', to: '0xabc' }, at(1)),
    ).toMatchObject({ ok: true, value: { attempts: 2, content: req } });
    expect(await outbox.recordAttempt(n.id, 'sign:cosigner-b', { ...req, to: '0xdef' }, at(2))).toMatchObject(
      {
        ok: false,
        code: 'OUTBOX_CONTENT_MISMATCH',
      },
    );
    expect((await outbox.get(n.id, 'sign:cosigner-b'))?.content).toEqual(req);
    const settled = await outbox.settle(n.id, 'sign:cosigner-b', 'failed', { code: 'X' }, at(3));
    expect(settled).toMatchObject({ status: 'failed', result: { code: 'X' } });
    expect(await outbox.settle(n.id, 'sign:cosigner-b', 'done', { sig: 'bb' }, at(4))).toMatchObject({
      status: 'failed',
      result: { code: 'X' },
    });
  });

  it('idempotency: same key+body replays, different body conflicts, in-flight waits, dead lease retaken', async () => {
    const db = await backend.open();
    const store = new IdempotencyStore(db);
    const base = {
      principal: 'p',
      key: 'k1',
      method: 'POST',
      path: '/v1/intents',
      requestHash: 'h1',
      leaseMs: 30_000,
    };
    expect(await store.begin({ ...base, now: T0 })).toEqual({ kind: 'new' });
    expect(await store.begin({ ...base, now: at(1) })).toEqual({ kind: 'in_flight' });
    expect(await store.begin({ ...base, requestHash: 'h2', now: at(1) })).toEqual({ kind: 'mismatch' });
    await store.finish('p', 'k1', 201, { id: 'x' });
    expect(await store.begin({ ...base, now: at(2) })).toEqual({
      kind: 'replay',
      statusCode: 201,
      response: { id: 'x' },
    });
    // Another principal's identical key is independent.
    expect(await store.begin({ ...base, principal: 'q', now: at(2) })).toEqual({ kind: 'new' });
    // A first request that died mid-flight: retaken after its lease.
    expect(await store.begin({ ...base, key: 'k2', now: T0 })).toEqual({ kind: 'new' });
    expect(await store.begin({ ...base, key: 'k2', now: at(31) })).toEqual({ kind: 'new' });
  });
});
