import { afterAll, describe, expect, it, vi } from 'vitest';
import { approvalAdapters } from '../../src/coordinator/adapters/approval.ts';
import { PrincipalSet } from '../../src/core/identity/principal-set.ts';
import type { Principal } from '../../src/core/identity/types.ts';
import { type Intent, intentDigest } from '../../src/core/intent/index.ts';
import { PrincipalStore } from '../../src/store/principals.ts';
import { approveWebAuthn, passkeyCredential, principal, RP } from '../approval/fixtures.ts';
import { storeBackends } from '../helpers/db.ts';
import { SoftAuthenticator } from '../helpers/webauthn.ts';
import { fixture, idem, keys, makeIntent, submitBody } from './helpers/fixture.ts';

// Attack: the pure verifier does not check WebAuthn signature counters (co-signers re-verify old
// assertions), so the coordinator must: an assertion whose non-zero counter does not exceed the
// stored one is a replay or comes from a cloned authenticator (WebAuthn L3 §6.1.1).
vi.setConfig({ testTimeout: 120_000 });
const backends = await storeBackends();

describe.each(backends)('WebAuthn signature counters at the coordinator on $name', (backend) => {
  afterAll(() => backend.cleanup());

  async function setup() {
    const db = await backend.open();
    const alice = new SoftAuthenticator({ counter: 4 }); // next assertion carries 5
    const bob = new SoftAuthenticator({ counter: 0 }); // does not count
    const carol = new SoftAuthenticator({ counter: 9 }); // next assertion carries 10
    const list: Principal[] = [
      { ...principal('svc-backoffice', ['requester'], [], [keys.requester.credential()]), kind: 'service' },
      principal('ops-alice', ['approver'], ['operations'], [passkeyCredential(alice)]),
      principal('ops-bob', ['approver'], ['operations'], [passkeyCredential(bob)]),
      principal('svc-passkey', ['requester'], [], [passkeyCredential(carol)]),
    ];
    const store = new PrincipalStore(db, () => new Date().toISOString());
    for (const p of list) await store.add(p, 'test-admin');
    const ps = new PrincipalSet(list, { webauthn: RP });
    const { verifier, approvals } = approvalAdapters(() => ps);
    const f = await fixture(db, { verifier, approvals, counters: store });
    const pending = async (): Promise<Intent> => {
      const big = makeIntent({ amount: '50000000000000000000' });
      const r = await f.c.app.inject({
        method: 'POST',
        url: '/v1/intents',
        headers: idem(),
        payload: submitBody(big),
      });
      expect(r.statusCode).toBe(201);
      await f.c.worker.drain();
      const got = (await f.c.app.inject({ method: 'GET', url: `/v1/intents/${big.id}` })).json();
      expect(got.state).toBe('pending_approval');
      return big;
    };
    const approve = (intent: Intent, payload: unknown) =>
      f.c.app.inject({
        method: 'POST',
        url: `/v1/intents/${intent.id}/approvals`,
        headers: idem(),
        payload: payload as Record<string, unknown>,
      });
    const counter = async (id: string) =>
      (await store.list()).flatMap((p) => p.credentials).find((c) => c.id === id)?.counter;
    return { f, store, alice, bob, carol, pending, approve, counter };
  }

  it('accepts counter 5, refuses 5 again and 3 (typed, nothing stored), then accepts 6', async () => {
    const { f, alice, pending, approve, counter } = await setup();
    const [one, two] = [await pending(), await pending()];

    const first = await approve(one, approveWebAuthn(one, alice, 'ops-alice'));
    expect(alice.counter).toBe(5);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ approvers: ['ops-alice'] });
    expect(await counter(alice.id)).toBe(5);

    // A second assertion carrying the same counter (what a cloned authenticator or a replay shows).
    alice.counter = 4;
    const same = await approve(two, approveWebAuthn(two, alice, 'ops-alice'));
    expect(same.statusCode).toBe(409);
    expect(same.json()).toMatchObject({ status: 409, code: 'WEBAUTHN_COUNTER_REPLAY' });
    alice.counter = 2;
    const lower = await approve(two, approveWebAuthn(two, alice, 'ops-alice'));
    expect(lower.json()).toMatchObject({ status: 409, code: 'WEBAUTHN_COUNTER_REPLAY' });
    // Refused in the approval's transaction: no approval was stored, the intent still waits.
    const still = (await f.c.app.inject({ method: 'GET', url: `/v1/intents/${two.id}` })).json();
    expect(still).toMatchObject({ state: 'pending_approval', approvals: [] });
    expect(await counter(alice.id)).toBe(5);

    alice.counter = 5;
    const fresh = await approve(two, approveWebAuthn(two, alice, 'ops-alice'));
    expect(fresh.statusCode).toBe(200);
    expect(await counter(alice.id)).toBe(6);
    await f.c.close();
  });

  it('an authenticator with counter 0 keeps working', async () => {
    const { f, bob, pending, approve, counter } = await setup();
    for (const intent of [await pending(), await pending()]) {
      const r = await approve(intent, approveWebAuthn(intent, bob, 'ops-bob'));
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ approvers: ['ops-bob'] });
    }
    expect(bob.counter).toBe(0);
    expect(await counter(bob.id)).toBe(0);
    await f.c.close();
  });

  it('a requester submission with a replayed counter is refused', async () => {
    const { f, carol, counter } = await setup();
    const submit = (intent: Intent) =>
      f.c.app.inject({
        method: 'POST',
        url: '/v1/intents',
        headers: idem(),
        payload: { intent, signature: carol.signDigest(intentDigest(intent), 'svc-passkey') },
      });
    const a = makeIntent({ requestedBy: 'svc-passkey' });
    expect((await submit(a)).statusCode).toBe(201);
    expect(await counter(carol.id)).toBe(10);
    carol.counter = 9; // the next assertion carries 10 again
    const b = makeIntent({ requestedBy: 'svc-passkey' });
    const replay = await submit(b);
    expect(replay.json()).toMatchObject({ status: 409, code: 'WEBAUTHN_COUNTER_REPLAY' });
    expect((await f.c.app.inject({ method: 'GET', url: `/v1/intents/${b.id}` })).statusCode).toBe(404);
    await f.c.close();
  });
});
