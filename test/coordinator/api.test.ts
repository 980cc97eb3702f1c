import { afterAll, describe, expect, it, vi } from 'vitest';
import { storeBackends } from '../helpers/db.ts';
import {
  approval,
  cancelBody,
  fixture,
  idem,
  keys,
  makeIntent,
  STRANGER,
  submitBody,
} from './helpers/fixture.ts';

// Each test opens a fresh database; on a loaded 2-core machine PGlite start-up alone can take seconds.
vi.setConfig({ testTimeout: 120_000 });
const backends = await storeBackends();

describe.each(backends)('coordinator HTTP API on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('the stored idempotent response commits with the intent, or neither does', async () => {
    const db = await backend.open();
    const { c } = await fixture(db);
    // Fault: storing the response (a key row with a status, inserted or updated) fails inside the
    // creating statement or transaction.
    await db.exec(`CREATE FUNCTION fail_finish() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.status_code IS NOT NULL THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER fail_finish BEFORE INSERT OR UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION fail_finish();`);
    const intent = makeIntent();
    const headers = idem();
    const failed = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers,
      payload: submitBody(intent),
    });
    expect(failed.statusCode).toBe(500);
    expect((await c.app.inject({ method: 'GET', url: `/v1/intents/${intent.id}` })).statusCode).toBe(404);
    await db.exec('DROP TRIGGER fail_finish ON idempotency_keys');
    // The key was released with the rollback: the retry creates the intent once.
    const retry = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers,
      payload: submitBody(intent),
    });
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotency-replayed']).toBeUndefined();
  });

  it('submits an intent; same key + body replays, same key + other body is 409', async () => {
    const { c } = await fixture(await backend.open());
    const intent = makeIntent();
    const headers = idem();
    const first = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers,
      payload: submitBody(intent),
    });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ id: intent.id, state: 'requested' });
    expect(first.headers.location).toBe(`/v1/intents/${intent.id}`);
    const again = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers,
      payload: submitBody(intent),
    });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = makeIntent();
    const clash = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers,
      payload: submitBody(other),
    });
    expect(clash.statusCode).toBe(409);
    expect(clash.headers['content-type']).toContain('application/problem+json');
    expect(clash.json()).toMatchObject({ type: 'urn:custos:problem:idempotency-key-reused', status: 409 });
    // The same intent under a new key is still one withdrawal.
    const dup = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(intent),
    });
    expect(dup.json()).toMatchObject({ code: 'DUPLICATE_INTENT', status: 409 });
    await c.close();
  });

  it('answers every failure as problem+json naming the field', async () => {
    const { c } = await fixture(await backend.open());
    const intent = makeIntent();
    const noKey = await c.app.inject({ method: 'POST', url: '/v1/intents', payload: submitBody(intent) });
    expect(noKey.json()).toMatchObject({
      code: 'IDEMPOTENCY_KEY_REQUIRED',
      status: 400,
      field: '/headers/idempotency-key',
    });

    const unknown = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: { ...submitBody(intent), intent: { ...intent, memo: 'x' } },
    });
    expect(unknown.json()).toMatchObject({ code: 'UNKNOWN_FIELD', status: 400 });

    const badAmount = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: { ...submitBody(intent), intent: { ...intent, amount: '1.5' } },
    });
    expect(badAmount.json()).toMatchObject({ code: 'INVALID_INTENT', field: '/body/intent/amount' });

    const dupKey = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: { ...idem(), 'content-type': 'application/json' },
      payload: '{"intent":{},"intent":{},"signature":{}}',
    });
    expect(dupKey.statusCode).toBe(400);
    expect(dupKey.headers['content-type']).toContain('application/problem+json');

    const extraTop = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: { ...submitBody(intent), x: 1 },
    });
    expect(extraTop.json()).toMatchObject({ code: 'UNKNOWN_FIELD', field: '/body/x' });

    // Signed by Alice's key but claiming to be the requester: refused, key released for a real retry.
    const forged = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(intent, keys.alice, 'svc-backoffice'),
    });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().code).toMatch(/CREDENTIAL_MISMATCH|UNKNOWN_CREDENTIAL|BAD_SIGNATURE/);

    const notRequester = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(makeIntent({ requestedBy: 'ops-alice' }), keys.alice, 'ops-alice'),
    });
    expect(notRequester.json()).toMatchObject({ status: 403, code: 'NOT_REQUESTER' });

    const wallet = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(makeIntent({ wallet: 'nope' })),
    });
    expect(wallet.json()).toMatchObject({
      status: 422,
      code: 'UNKNOWN_WALLET',
      field: '/body/intent/wallet',
    });

    const notFound = await c.app.inject({
      method: 'GET',
      url: '/v1/intents/7b0b0f7e-5f0a-4d6b-9c57-2f4f7c1e8a11',
    });
    expect(notFound.json()).toMatchObject({ status: 404, code: 'INTENT_NOT_FOUND' });
    const badId = await c.app.inject({ method: 'GET', url: '/v1/intents/not-a-uuid' });
    expect(badId.json()).toMatchObject({ status: 400, field: '/params/id' });
    const route = await c.app.inject({ method: 'GET', url: '/v2/nothing' });
    expect(route.json()).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND' });
    const cursor = await c.app.inject({ method: 'GET', url: '/v1/intents?cursor=garbage' });
    expect(cursor.json()).toMatchObject({ status: 400, code: 'INVALID_CURSOR' });
    const big = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: { ...idem(), 'content-type': 'application/json' },
      payload: JSON.stringify({ intent: { pad: 'x'.repeat(300_000) }, signature: {} }),
    });
    expect(big.json()).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE' });
    await c.close();
  });

  it('runs a small withdrawal through policy, both co-signers and broadcast to confirmed', async () => {
    const { c, cosigners, chain } = await fixture(await backend.open());
    const intent = makeIntent();
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(intent) });
    await c.worker.drain();
    const got = (await c.app.inject({ method: 'GET', url: `/v1/intents/${intent.id}` })).json();
    expect(got.state).toBe('confirmed');
    expect(got.decision).toMatchObject({ decision: 'allow', rule: 'allow-small' });
    expect(got.history.map((h: { to: string }) => h.to)).toEqual([
      'requested',
      'approved',
      'building',
      'signing',
      'broadcast',
      'confirmed',
    ]);
    expect(got.transaction.decoded).toEqual({ kind: 'evm-hot', note: 'double' });
    expect(got.signatures.map((s: { status: string }) => s.status)).toEqual(['done', 'done']);
    expect(cosigners.map((x) => x.requests.length)).toEqual([1, 1]);
    // Both co-signers got byte-identical requests carrying the requester signature.
    expect(cosigners[0]!.requests[0]).toEqual(cosigners[1]!.requests[0]);
    expect(chain.broadcasts).toHaveLength(1);
    await c.close();
  });

  it('blocks by policy, with the trace; a large one waits for an approver, self-approval refused', async () => {
    const { c } = await fixture(await backend.open());
    const blocked = makeIntent({ destination: STRANGER });
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(blocked) });
    const big = makeIntent({ amount: '50000000000000000000', requestedBy: 'ops-bob' });
    await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(big, keys.bob, 'ops-bob'),
    });
    await c.worker.drain();
    const b = (await c.app.inject({ method: 'GET', url: `/v1/intents/${blocked.id}` })).json();
    expect(b).toMatchObject({
      state: 'blocked',
      failure: { code: 'POLICY_BLOCKED' },
      decision: { rule: 'block-unknown' },
    });
    const pending = (await c.app.inject({ method: 'GET', url: `/v1/intents/${big.id}` })).json();
    expect(pending.state).toBe('pending_approval');

    const self = await c.app.inject({
      method: 'POST',
      url: `/v1/intents/${big.id}/approvals`,
      headers: idem(),
      payload: approval(big, keys.bob, 'ops-bob'),
    });
    expect(self.json()).toMatchObject({ status: 403, code: 'SELF_APPROVAL' });
    const wrong = await c.app.inject({
      method: 'POST',
      url: `/v1/intents/${big.id}/approvals`,
      headers: idem(),
      payload: approval(blocked, keys.alice, 'ops-alice'),
    });
    expect(wrong.json()).toMatchObject({ code: 'WRONG_INTENT' });
    const ok = await c.app.inject({
      method: 'POST',
      url: `/v1/intents/${big.id}/approvals`,
      headers: idem(),
      payload: approval(big, keys.alice, 'ops-alice'),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ state: 'building', approvers: ['ops-alice'] });
    await c.worker.drain();
    const done = (await c.app.inject({ method: 'GET', url: `/v1/intents/${big.id}` })).json();
    expect(done.state).toBe('confirmed');
    expect(done.approvals).toMatchObject([{ principal: 'ops-alice', decision: 'approve' }]);
    await c.close();
  });

  it('a co-signer refusal fails the intent and raises a critical alert; the audit chain verifies', async () => {
    const { c, cosigners, chain, audit } = await fixture(await backend.open());
    cosigners[1]!.mode = 'refuse';
    const intent = makeIntent();
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(intent) });
    await c.worker.drain();
    const got = (await c.app.inject({ method: 'GET', url: `/v1/intents/${intent.id}` })).json();
    expect(got).toMatchObject({ state: 'failed', failure: { code: 'DESTINATION_MISMATCH' } });
    expect(chain.broadcasts).toEqual([]);
    const alerts = (await c.app.inject({ method: 'GET', url: '/v1/alerts' })).json();
    expect(alerts.items[0]).toMatchObject({
      severity: 'critical',
      code: 'COSIGNER_REFUSED',
      subject: `intent:${intent.id}`,
    });
    const metrics = (await c.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(
      'custos_cosigner_refusals_total{cosigner="cosigner-b",code="DESTINATION_MISMATCH"} 1',
    );
    expect(metrics).toMatch(/custos_intents\{state="failed"\} 1/);
    expect(await audit.verify({ trustedKeys: [] })).toMatchObject({ ok: true });
    await c.close();
  });

  it('a co-signer that is down is retried until it returns; each co-signer signs once', async () => {
    const { c, cosigners, chain } = await fixture(await backend.open());
    cosigners[0]!.mode = 'down';
    const intent = makeIntent();
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(intent) });
    for (let i = 0; i < 5; i++) {
      await c.worker.drain(3);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await c.intents.get(intent.id))?.state).toBe('signing');
    cosigners[0]!.mode = 'sign';
    for (let i = 0; i < 5 && (await c.intents.get(intent.id))?.state !== 'confirmed'; i++) {
      await new Promise((r) => setTimeout(r, 5));
      await c.worker.drain();
    }
    expect((await c.intents.get(intent.id))?.state).toBe('confirmed');
    expect(cosigners[0]!.requests.length).toBeGreaterThan(1);
    // Every retry sent the same request.
    for (const r of cosigners[0]!.requests) expect(r).toEqual(cosigners[0]!.requests[0]);
    expect(cosigners[1]!.requests).toHaveLength(1);
    expect(chain.broadcasts).toHaveLength(1);
    await c.close();
  });

  it('one transaction in flight per wallet: a second intent is built only after the first is final', async () => {
    const { c, chain } = await fixture(await backend.open());
    chain.state = 'pending';
    const a = makeIntent();
    const b = makeIntent();
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(a) });
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(b) });
    await c.worker.drain(20);
    const states = [(await c.intents.get(a.id))!.state, (await c.intents.get(b.id))!.state].sort();
    // One holds the wallet's nonce (broadcast, unconfirmed); the other waits in building.
    expect(states).toEqual(['broadcast', 'building']);
    expect(chain.builds).toBe(1);
    chain.state = 'confirmed';
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 120));
      await c.worker.drain(20);
    }
    expect((await c.intents.get(a.id))!.state).toBe('confirmed');
    expect((await c.intents.get(b.id))!.state).toBe('confirmed');
    expect(chain.builds).toBe(2);
    await c.close();
  });

  it('cancels before signing with a signature over the cancel digest; not after', async () => {
    const { c } = await fixture(await backend.open());
    const big = makeIntent({ amount: '50000000000000000000' });
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(big) });
    await c.worker.drain();
    const bad = await c.app.inject({
      method: 'POST',
      url: `/v1/intents/${big.id}/cancel`,
      headers: idem(),
      payload: { signature: submitBody(big).signature },
    });
    expect(bad.json()).toMatchObject({ status: 401, code: 'BAD_SIGNATURE' });
    const ok = await c.app.inject({
      method: 'POST',
      url: `/v1/intents/${big.id}/cancel`,
      headers: idem(),
      payload: cancelBody(big),
    });
    expect(ok.json()).toMatchObject({ state: 'cancelled' });
    const late = await c.app.inject({
      method: 'POST',
      url: `/v1/intents/${big.id}/cancel`,
      headers: idem(),
      payload: cancelBody(big),
    });
    expect(late.json()).toMatchObject({ status: 409, code: 'NOT_CANCELLABLE' });
    await c.close();
  });

  it('lists with cursor pagination and filters by state', async () => {
    const { c } = await fixture(await backend.open());
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const it = makeIntent();
      ids.push(it.id);
      await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(it) });
    }
    const seen: string[] = [];
    let url = '/v1/intents?limit=2';
    for (;;) {
      const page = (await c.app.inject({ method: 'GET', url })).json();
      seen.push(...page.items.map((x: { id: string }) => x.id));
      if (!page.nextCursor) break;
      url = `/v1/intents?limit=2&cursor=${page.nextCursor}`;
    }
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(seen).toHaveLength(5);
    const none = (await c.app.inject({ method: 'GET', url: '/v1/intents?state=confirmed' })).json();
    expect(none.items).toEqual([]);
    const bad = await c.app.inject({ method: 'GET', url: '/v1/intents?state=bogus' });
    expect(bad.json()).toMatchObject({ status: 400, field: '/query/state' });
    await c.close();
  });

  it('fails closed when a module is missing: no policy → POLICY_UNAVAILABLE, no chain → CHAIN_UNAVAILABLE', async () => {
    const db = await backend.open();
    const { c } = await fixture(db, { policy: undefined });
    const a = makeIntent();
    await c.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(a) });
    await c.worker.drain();
    expect(await c.intents.get(a.id)).toMatchObject({
      state: 'failed',
      failure: { code: 'POLICY_UNAVAILABLE' },
    });
    await c.close();
    const { c: c2 } = await fixture(db, { chains: new Map() });
    const b = makeIntent();
    await c2.app.inject({ method: 'POST', url: '/v1/intents', headers: idem(), payload: submitBody(b) });
    await c2.worker.drain();
    expect(await c2.intents.get(b.id)).toMatchObject({
      state: 'failed',
      failure: { code: 'CHAIN_UNAVAILABLE' },
    });
    await c2.close();
  });

  it('serves health, metrics, OpenAPI 3.1 and the docs UI; rate-limits per principal', async () => {
    const { c } = await fixture(await backend.open(), {
      http: { rateLimit: { perSecond: 0.001, burst: 2 } },
    });
    expect((await c.app.inject({ method: 'GET', url: '/livez' })).json()).toEqual({ ok: true });
    const ready = await c.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json().checks.database).toBe(true);
    const spec = (await c.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/v1/intents', '/v1/intents/{id}', '/v1/alerts']),
    );
    expect((await c.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
    const m = await c.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toContain('custos_policy_decision_seconds');
    expect(m.body).toContain('custos_watchtower_lag_blocks');
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      codes.push(
        (
          await c.app.inject({
            method: 'POST',
            url: '/v1/intents',
            headers: idem(),
            payload: submitBody(makeIntent()),
          })
        ).statusCode,
      );
    }
    expect(codes).toEqual([201, 201, 429]);
    await c.close();
  });
});
