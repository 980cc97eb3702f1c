import { afterAll, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../src/store/audit.ts';
import type { Db } from '../../src/store/db.ts';
import { countingDb } from '../helpers/counting-db.ts';
import { storeBackends } from '../helpers/db.ts';
import { fixture, idem, keys, makeIntent, submitBody } from './helpers/fixture.ts';

// Each test opens a fresh database; on a loaded 2-core machine PGlite start-up alone can take seconds.
vi.setConfig({ testTimeout: 120_000 });
const backends = await storeBackends();

/** A coordinator whose request statements are counted (the audit sealer's are not: it is the log's). */
async function counted(raw: Db) {
  const db = countingDb(raw);
  const audit = new AuditLog(raw, { now: () => new Date().toISOString() });
  const f = await fixture(db, { audit });
  const post = (payload: unknown, headers: Record<string, string>) =>
    f.c.app.inject({ method: 'POST', url: '/v1/intents', headers, payload: payload as object });
  return { ...f, db, audit, post };
}

async function count(db: Db, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await db.query<{ n: number | string }>(sql, params);
  return Number(rows[0]!.n);
}

describe.each(backends)('POST /v1/intents submit path on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('a new submission is ONE statement: intent, history, job, staged audit entry and answered key', async () => {
    const raw = await backend.open();
    const { c, db, audit, post } = await counted(raw);
    const intent = makeIntent();
    const headers = idem();
    const before = db.statements;
    const r = await post(submitBody(intent), headers);
    expect(r.statusCode).toBe(201);
    // Adding a round trip back to the submit path makes this fail (see docs/coordinator.md "Submit path").
    expect(db.log.slice(before)).toHaveLength(1);
    expect(r.headers.location).toBe(`/v1/intents/${intent.id}`);
    expect(r.headers['content-type']).toContain('application/json');
    expect(r.json()).toMatchObject({ id: intent.id, state: 'requested', version: 0, decision: null });
    // Everything the multi-statement path wrote is there.
    const id = [intent.id];
    expect(await count(raw, 'SELECT count(*) AS n FROM wf_transitions WHERE intent_id = $1', id)).toBe(1);
    expect(
      await count(raw, 'SELECT count(*) AS n FROM wf_jobs WHERE dedup_key = $1', [`evaluate:${intent.id}`]),
    ).toBe(1);
    expect(
      await count(raw, 'SELECT count(*) AS n FROM idempotency_keys WHERE key = $1 AND status_code = 201', [
        headers['idempotency-key'],
      ]),
    ).toBe(1);
    await audit.sealPending();
    const { rows } = await raw.query<{ kind: string; actor: string }>(
      'SELECT kind, actor FROM audit_log WHERE subject = $1',
      [`intent:${intent.id}`],
    );
    expect(rows).toEqual([{ kind: 'intent.requested', actor: 'svc-backoffice' }]);
    // The stored response is the one sent; the detail view agrees with it.
    const again = await post(submitBody(intent), headers);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(again.json()).toEqual(r.json());
    const detail = (await c.app.inject({ method: 'GET', url: `/v1/intents/${intent.id}` })).json();
    expect({ ...detail, history: undefined, approvals: undefined }).toMatchObject(r.json());
    await c.close();
    await audit.stopSealer();
  });

  it('two first requests at once, one key: same body → one intent, the other a replay; other body → 409, nothing created', async () => {
    const raw = await backend.open();
    const { c, audit, post } = await counted(raw);
    const intent = makeIntent();
    const headers = idem();
    const body = submitBody(intent);
    const same = await Promise.all([post(body, headers), post(body, headers)]);
    expect(same.map((r) => r.statusCode)).toEqual([201, 201]);
    expect(same.filter((r) => r.headers['idempotency-replayed'] === 'true')).toHaveLength(1);
    expect(await count(raw, 'SELECT count(*) AS n FROM wf_intents WHERE id = $1', [intent.id])).toBe(1);

    const a = makeIntent();
    const b = makeIntent();
    const k2 = idem();
    const clash = await Promise.all([post(submitBody(a), k2), post(submitBody(b), k2)]);
    expect(clash.map((r) => r.statusCode).sort()).toEqual([201, 409]);
    expect(clash.find((r) => r.statusCode === 409)!.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(
      await count(raw, 'SELECT count(*) AS n FROM wf_intents WHERE id = ANY($1::uuid[])', [[a.id, b.id]]),
    ).toBe(1);
    await c.close();
    await audit.stopSealer();
  });

  it('a reused key is refused before a refusal of the new body; duplicates are pinned to their key', async () => {
    const raw = await backend.open();
    const { c, audit, post } = await counted(raw);
    const intent = makeIntent();
    const headers = idem();
    expect((await post(submitBody(intent), headers)).statusCode).toBe(201);
    // Same key, another body whose signature is wrong: the key's record answers (409), not the verifier.
    const forged = await post(submitBody(makeIntent(), keys.alice, 'svc-backoffice'), headers);
    expect(forged.json()).toMatchObject({ status: 409, code: 'IDEMPOTENCY_KEY_REUSED' });
    // The same intent under a new key: 409 DUPLICATE_INTENT, stored under that key and replayed.
    const k2 = idem();
    const dup = await post(submitBody(intent), k2);
    expect(dup.json()).toMatchObject({ status: 409, code: 'DUPLICATE_INTENT' });
    const dupAgain = await post(submitBody(intent), k2);
    expect(dupAgain.headers['idempotency-replayed']).toBe('true');
    expect(dupAgain.json()).toEqual(dup.json());
    // A refusal that a retry may fix (401) does not pin its key: the corrected request creates.
    const other = makeIntent();
    const k3 = idem();
    expect((await post(submitBody(other, keys.alice, 'svc-backoffice'), k3)).statusCode).toBe(401);
    expect((await post(submitBody(other), k3)).statusCode).toBe(201);
    await c.close();
    await audit.stopSealer();
  });

  it('a key left unanswered by a dead request is retaken after its lease, and the intent created once', async () => {
    const raw = await backend.open();
    const { c, audit, post } = await counted(raw);
    const intent = makeIntent();
    const headers = idem();
    const payload = submitBody(intent);
    // Make a real submission look like a request whose process died before answering: the key
    // claimed with an expired lease, no answer, and nothing of the intent written.
    const first = await post(payload, headers);
    expect(first.statusCode).toBe(201);
    await raw.query(
      `UPDATE idempotency_keys SET status_code = NULL, response = NULL, lease_until = '2000-01-01T00:00:00Z'
       WHERE key = $1`,
      [headers['idempotency-key']],
    );
    await raw.query('DELETE FROM wf_jobs WHERE dedup_key = $1', [`evaluate:${intent.id}`]);
    await raw.query('DELETE FROM wf_transitions WHERE intent_id = $1', [intent.id]);
    await raw.query('DELETE FROM wf_intents WHERE id = $1', [intent.id]);
    const retry = await post(payload, headers);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotency-replayed']).toBeUndefined();
    expect(await count(raw, 'SELECT count(*) AS n FROM wf_intents WHERE id = $1', [intent.id])).toBe(1);
    const replay = await post(payload, headers);
    expect(replay.headers['idempotency-replayed']).toBe('true');
    await c.close();
    await audit.stopSealer();
  });

  it('the audit sealer: an empty round is one statement; a committed stage is sealed without a reader', async () => {
    const raw = await backend.open();
    const sealerDb = countingDb(raw);
    const audit = new AuditLog(sealerDb, { now: () => new Date().toISOString() });
    await audit.sealPending();
    const before = sealerDb.statements;
    expect(await audit.sealPending()).toBe(0);
    expect(sealerDb.statements - before).toBe(1);
    const { c, post } = await (async () => {
      const f = await fixture(raw, { audit });
      return {
        c: f.c,
        post: (payload: unknown) =>
          f.c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: payload as object }),
      };
    })();
    const intent = makeIntent();
    expect((await post(submitBody(intent))).statusCode).toBe(201);
    // staged() wakes the sealer: the entry reaches the chain with nobody reading.
    await vi.waitFor(
      async () =>
        expect(
          await count(raw, 'SELECT count(*) AS n FROM audit_log WHERE subject = $1', [`intent:${intent.id}`]),
        ).toBe(1),
      { timeout: 10_000, interval: 20 },
    );
    await c.close();
    await audit.stopSealer();
  });
});
