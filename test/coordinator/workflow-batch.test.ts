import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { SignOutcome } from '../../src/coordinator/cosigner-client.ts';
import type { SignRequest } from '../../src/core/auth/index.ts';
import type { Db } from '../../src/store/db.ts';
import { IntentStore } from '../../src/store/workflow/intents.ts';
import { IntentBatch } from '../../src/store/workflow/intents-batch.ts';
import { OutboxBatch } from '../../src/store/workflow/outbox.ts';
import { JobQueue } from '../../src/store/workflow/queue.ts';
import { storeBackends } from '../helpers/db.ts';
import { auditDouble } from './helpers/audit-double.ts';
import { CHAIN, CosignerDouble, fixture, idem, makeIntent, submitBody } from './helpers/fixture.ts';
import { at, newIntent, T0 } from './helpers/new-intent.ts';

vi.setConfig({ testTimeout: 180_000 });
const backends = await storeBackends();

/**
 * TEST DOUBLE: a co-signer that takes whole batches (signMany), records each batch's size, and
 * refuses the intents listed in `refuse` — the rest of a batch must still be signed.
 */
class BatchCosigner extends CosignerDouble {
  batches: number[] = [];
  refuse = new Set<string>();
  async signMany(requests: readonly SignRequest[]): Promise<SignOutcome[]> {
    this.batches.push(requests.length);
    return Promise.all(
      requests.map(async (r) => {
        if (this.refuse.has((r.intent as { id: string }).id)) {
          this.requests.push(structuredClone(r));
          return {
            kind: 'refused' as const,
            code: 'AMOUNT_MISMATCH',
            message: 'tx moves another amount',
            step: 'chain',
          };
        }
        return this.sign(r);
      }),
    );
  }
}

describe.each(backends)('batched workflow on $name', (backend) => {
  afterAll(() => backend.cleanup());

  async function stores(db?: Db) {
    const d = db ?? (await backend.open());
    const audit = await auditDouble(d);
    return {
      db: d,
      audit,
      intents: new IntentStore(d, audit),
      batch: new IntentBatch(audit),
      queue: new JobQueue(d, { baseMs: 1000, maxMs: 1000 }),
      outboxes: new OutboxBatch(d),
    };
  }

  it('moves many intents in one transaction; an illegal event leaves only its own intent untouched', async () => {
    const { db, intents, batch, audit } = await stores();
    const [a, b, c] = [newIntent(), newIntent(), newIntent()];
    for (const n of [a, b, c]) await intents.create(n, T0);
    await intents.transition(c.id, { event: 'cancel', actor: 'svc-backoffice' }, at(1));
    const r = await db.transaction((tx) =>
      batch.transitionManyInTx(
        tx,
        [
          {
            id: a.id,
            events: [
              { event: 'policy_allowed', actor: 'policy', decision: { decision: 'allow' } },
              {
                event: 'build_started',
                actor: 'coordinator',
                enqueue: [{ kind: 'build', payload: { intentId: a.id }, dedupKey: `build:${a.id}` }],
              },
            ],
          },
          // Legal first event, illegal second: nothing of it is written.
          {
            id: b.id,
            events: [
              { event: 'policy_allowed', actor: 'policy' },
              { event: 'signed', actor: 'x' },
            ],
          },
          // Already final.
          { id: c.id, events: [{ event: 'policy_allowed', actor: 'policy' }] },
          { id: randomUUID(), events: [{ event: 'policy_allowed', actor: 'policy' }] },
        ],
        at(2),
      ),
    );
    expect(r.get(a.id)).toMatchObject({ ok: true, value: { state: 'building', version: 2 } });
    expect(r.get(b.id)).toMatchObject({ ok: false, code: 'ILLEGAL_TRANSITION' });
    expect(r.get(c.id)).toMatchObject({ ok: false, code: 'TERMINAL_STATE' });
    expect([...r.values()].filter((x) => !x.ok && x.code === 'NOT_FOUND')).toHaveLength(1);
    expect((await intents.get(a.id))!.decision).toEqual({ decision: 'allow' });
    expect((await intents.get(b.id))!).toMatchObject({ state: 'requested', version: 0 });
    expect((await intents.history(a.id)).map((h) => [h.from, h.to])).toEqual([
      [null, 'requested'],
      ['requested', 'approved'],
      ['approved', 'building'],
    ]);
    const { rows: jobs } = await db.query<{ dedup_key: string }>('SELECT dedup_key FROM wf_jobs');
    expect(jobs.map((j) => j.dedup_key)).toEqual([`build:${a.id}`]);
    const kinds = (await audit.entries()).filter((e) => e.subject === `intent:${a.id}`).map((e) => e.kind);
    expect(kinds).toEqual(['intent.requested', 'intent.approved', 'intent.building']);
    // A stale expected version refuses; one intent twice in a batch is a programming error.
    const stale = await db.transaction((tx) =>
      batch.transitionManyInTx(
        tx,
        [{ id: a.id, events: [{ event: 'built', actor: 'x', expectVersion: 1 }] }],
        at(3),
      ),
    );
    expect(stale.get(a.id)).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' });
    await expect(
      db.transaction((tx) =>
        batch.transitionManyInTx(
          tx,
          [
            { id: b.id, events: [{ event: 'cancel', actor: 'x' }] },
            { id: b.id, events: [{ event: 'cancel', actor: 'x' }] },
          ],
          at(3),
        ),
      ),
    ).rejects.toMatchObject({ code: 'DUPLICATE_TRANSITION' });
  });

  it('a failure inside the batch transaction rolls back every intent of it', async () => {
    const { db, intents, batch } = await stores();
    const [a, b] = [newIntent(), newIntent()];
    for (const n of [a, b]) await intents.create(n, T0);
    await expect(
      db.transaction(async (tx) => {
        await batch.transitionManyInTx(
          tx,
          [a, b].map((n) => ({ id: n.id, events: [{ event: 'policy_allowed' as const, actor: 'policy' }] })),
          at(1),
        );
        throw new Error('crash before commit');
      }),
    ).rejects.toThrow('crash before commit');
    expect((await intents.get(a.id))!.state).toBe('requested');
    expect((await intents.get(b.id))!.state).toBe('requested');
    expect(await intents.history(a.id)).toHaveLength(1);
  });

  it('settles many jobs in one statement, fenced by lease', async () => {
    const { db, queue } = await stores();
    for (const k of ['a', 'b', 'c', 'd'])
      await queue.enqueue(
        { kind: 'evaluate', payload: { k }, dedupKey: k, maxAttempts: k === 'd' ? 1 : 5 },
        T0,
      );
    const jobs = await queue.claim({ worker: 'w1', limit: 10, visibilityMs: 1000, now: T0 });
    const byKey = new Map(jobs.map((j) => [j.dedupKey!, j]));
    // 'c' is taken over by another worker after the lease ran out: w1's outcome must not apply.
    const stolen = await queue.claim({ worker: 'w2', limit: 10, visibilityMs: 1000, now: at(5) });
    expect(stolen).toHaveLength(4);
    const c2 = stolen.find((j) => j.dedupKey === 'c')!;
    const n = await queue.settleMany(
      [
        { job: stolen.find((j) => j.dedupKey === 'a')!, outcome: { kind: 'done' } },
        { job: stolen.find((j) => j.dedupKey === 'b')!, outcome: { kind: 'snooze', until: at(60) } },
        { job: byKey.get('c')!, outcome: { kind: 'done' } },
        {
          job: stolen.find((j) => j.dedupKey === 'd')!,
          outcome: { kind: 'retry', code: 'X', message: 'boom' },
        },
      ],
      at(6),
    );
    expect(n).toBe(3);
    const { rows } = await db.query<{
      dedup_key: string;
      status: string;
      attempts: number;
      run_at: Date | string;
    }>('SELECT dedup_key, status, attempts, run_at FROM wf_jobs ORDER BY dedup_key');
    const s = Object.fromEntries(rows.map((r) => [r.dedup_key, r]));
    expect(s.a!.status).toBe('done');
    expect(s.b).toMatchObject({ status: 'queued', attempts: 1 });
    expect(new Date(s.b!.run_at).toISOString()).toBe(at(60).toISOString());
    expect(s.c!.status).toBe('queued'); // still w2's
    expect(s.d!.status).toBe('dead'); // one attempt allowed
    expect(await queue.settleMany([{ job: c2, outcome: { kind: 'done' } }], at(7))).toBe(1);
  });

  it('records many outbox entries: same content resumes, other content is refused per item', async () => {
    const { intents, outboxes } = await stores();
    const [a, b] = [newIntent(), newIntent()];
    for (const n of [a, b]) await intents.create(n, T0);
    const first = await outboxes.recordMany(
      [
        { intentId: a.id, step: 'sign:x', content: { v: 1 } },
        { intentId: b.id, step: 'sign:x', content: { v: 2 } },
      ],
      T0,
      { attempt: true },
    );
    expect(first.every((r) => r.ok)).toBe(true);
    const again = await outboxes.recordMany(
      [
        { intentId: a.id, step: 'sign:x', content: { v: 1 } },
        { intentId: b.id, step: 'sign:x', content: { v: 999 } },
      ],
      at(1),
      { attempt: true },
    );
    expect(again[0]).toMatchObject({ ok: true, value: { attempts: 2 } });
    expect(again[1]).toMatchObject({ ok: false, code: 'OUTBOX_CONTENT_MISMATCH' });
    await outboxes.settleMany(
      [{ intentId: a.id, step: 'sign:x', status: 'done', result: { sig: 1 } }],
      at(2),
    );
    await outboxes.settleMany(
      [{ intentId: a.id, step: 'sign:x', status: 'failed', result: { sig: 2 } }],
      at(3),
    );
    const view = await outboxes.view([a.id, b.id]);
    expect(view.get(a.id)!.get('sign:x')).toMatchObject({ status: 'done', result: { sig: 1 } });
    expect(view.get(b.id)!.get('sign:x')).toMatchObject({ status: 'pending', content: { v: 2 } });
  });

  it('runs many intents as batches: one request per co-signer per batch, a refusal fails only its intent, one in flight per wallet', async () => {
    const cosigners = [new BatchCosigner('cosigner-a'), new BatchCosigner('cosigner-b')];
    const wallets = ['hot-1', 'hot-2', 'hot-3', 'hot-4'].map((id) => ({
      id,
      chain: CHAIN,
      cosigners: ['cosigner-a', 'cosigner-b'],
      threshold: 2,
    }));
    // A waiting build must be woken by its wallet's holder finishing, not by its own re-check timer.
    const { c, chain } = await fixture(await backend.open(), {
      cosigners,
      wallets,
      polling: { confirmPollMs: 10, walletBusyPollMs: 600_000 },
    });
    chain.state = 'pending';
    // Two intents on hot-1, one on each other wallet.
    const intents = [
      makeIntent({ wallet: 'hot-1' }),
      makeIntent({ wallet: 'hot-1' }),
      makeIntent({ wallet: 'hot-2' }),
      makeIntent({ wallet: 'hot-3' }),
      makeIntent({ wallet: 'hot-4' }),
    ];
    cosigners[1]!.refuse.add(intents[3]!.id);
    for (const i of intents) {
      const r = await c.app.inject({
        method: 'POST',
        url: '/v1/intents',
        headers: idem(),
        payload: submitBody(i),
      });
      expect(r.statusCode).toBe(201);
    }
    await c.worker.drain(20);
    const state = async (i: (typeof intents)[number]) => (await c.intents.get(i.id))!.state;
    const hot1 = [await state(intents[0]!), await state(intents[1]!)].sort();
    expect(hot1).toEqual(['broadcast', 'building']);
    expect(await state(intents[2]!)).toBe('broadcast');
    expect(await state(intents[3]!)).toBe('failed');
    expect((await c.intents.get(intents[3]!.id))!.failure).toMatchObject({ code: 'AMOUNT_MISMATCH' });
    expect(await state(intents[4]!)).toBe('broadcast');
    // Four intents built together were asked in one request per co-signer.
    expect(cosigners[0]!.batches).toEqual([4]);
    expect(cosigners[1]!.batches).toEqual([4]);
    const alerts = await c.alerts.list({ limit: 10 });
    expect(alerts.items.map((a) => a.subject)).toEqual([`intent:${intents[3]!.id}`]);
    // Confirmations free the slots; the waiting hot-1 intent follows.
    chain.state = 'confirmed';
    for (let i = 0; i < 10 && (await state(intents[1]!)) !== 'confirmed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await c.worker.drain(20);
    }
    for (const i of [intents[0]!, intents[1]!, intents[2]!, intents[4]!])
      expect(await state(i)).toBe('confirmed');
    expect(chain.builds).toBe(5);
    // Every co-signer was asked exactly once per intent.
    for (const cs of cosigners) {
      const ids = cs.requests.map((r) => (r.intent as { id: string }).id).sort();
      expect(ids).toEqual(intents.map((i) => i.id).sort());
    }
    await c.close();
  });
});
