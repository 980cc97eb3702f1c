import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyPasskeyRegistration } from '../../src/core/identity/webauthn-registration.ts';
import { PrincipalStore } from '../../src/store/principals.ts';
import { PasskeyRegistrations } from '../../src/store/principals-registration.ts';
import { EdKey, principal, RP } from '../approval/fixtures.ts';
import { storeBackends } from '../helpers/db.ts';
import { SoftAuthenticator } from '../helpers/webauthn.ts';

// PGlite start-up is slow on a loaded 2-core machine; no assertion here is about time.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const backends = await storeBackends();

describe.each(backends)('principal store on $name', (backend) => {
  afterEach(() => backend.cleanup());

  it('adds, rotates and revokes credentials with history; ids and keys are unique', async () => {
    const db = await backend.open();
    let t = Date.parse('2026-03-01T10:00:00Z');
    const now = () => {
      t += 1000;
      return new Date(t).toISOString();
    };
    const store = new PrincipalStore(db, now);
    const k1 = new EdKey('alice-1');
    const k2 = new EdKey('alice-2');
    await store.add(principal('alice', ['approver'], ['ops'], [k1.credential()]), 'admin:bob');
    // One credential id (or one public key) can never be registered twice, to anyone.
    await expect(
      store.add(principal('mallory', ['approver'], ['ops'], [k1.credential()]), 'x'),
    ).rejects.toMatchObject({
      code: 'CREDENTIAL_EXISTS',
    });
    await expect(
      store.add(principal('mallory', ['approver'], ['ops'], [{ ...k1.credential(), id: 'other-id' }]), 'x'),
    ).rejects.toMatchObject({ code: 'CREDENTIAL_EXISTS' });

    await store.rotate('alice', 'alice-1', k2.credential(), 'admin:bob');
    let alice = (await store.list()).find((p) => p.id === 'alice')!;
    expect(alice.credentials.map((c) => [c.id, c.status])).toEqual([
      ['alice-1', 'revoked'],
      ['alice-2', 'active'],
    ]);
    expect(await store.revokeCredential('alice-1', 'admin:bob')).toMatchObject({
      ok: false,
      code: 'CREDENTIAL_REVOKED',
    });
    expect(await store.revokePrincipal('alice', 'admin:bob', 'left the company')).toEqual({
      ok: true,
      value: undefined,
    });
    alice = (await store.list()).find((p) => p.id === 'alice')!;
    expect(alice.status).toBe('revoked');
    expect((await store.history('alice')).map((h) => h.event)).toEqual([
      'principal.added',
      'credential.added',
      'credential.added',
      'credential.rotated',
      'principal.revoked',
    ]);
    // History and credentials cannot be deleted.
    await expect(db.query('DELETE FROM principal_history')).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM principal_credentials')).rejects.toThrow(/append-only/);
    // The stored set builds a PrincipalSet with the revoked key still known (history) but unusable.
    const set = await store.principalSet();
    expect(set.credential('alice-1')?.credential.status).toBe('revoked');
  });

  it('registers a passkey with its attestation and keeps its counter monotonic', async () => {
    const db = await backend.open();
    const now = () => '2026-03-01T10:00:00Z';
    const store = new PrincipalStore(db, now);
    const auth = new SoftAuthenticator({ counter: 5 });
    const reg = await verifyPasskeyRegistration({
      response: auth.register('Y2hhbGxlbmdl'),
      expectedChallenge: 'Y2hhbGxlbmdl',
      webauthn: RP,
      now: now(),
    });
    if (!reg.ok) throw new Error(reg.message);
    await store.add(principal('carol', ['approver'], ['ops'], [reg.value]), 'admin:bob');
    const carol = (await store.list())[0]!;
    expect(carol.credentials[0]).toMatchObject({ id: auth.id, counter: 5, attestation: { fmt: 'none' } });
    expect(await store.recordCounter(auth.id, 6)).toEqual({ ok: true, value: undefined });
    // A replayed or cloned authenticator's counter does not move forward.
    expect(await store.recordCounter(auth.id, 6)).toMatchObject({ ok: false, code: 'WEBAUTHN_COUNTER' });
    expect(await store.recordCounter(auth.id, 3)).toMatchObject({ ok: false, code: 'WEBAUTHN_COUNTER' });
    // Back to 0 after counting (WebAuthn L3 §6.1.1): another authenticator holds the key.
    expect(await store.recordCounter(auth.id, 0)).toMatchObject({ ok: false, code: 'WEBAUTHN_COUNTER' });
  });
});

describe.each(backends)('passkey registration ceremony on $name', (backend) => {
  afterEach(() => backend.cleanup());

  it('issues single-use challenges and returns a verified credential', async () => {
    const db = await backend.open();
    let t = Date.parse('2026-03-01T10:00:00Z');
    const now = () => new Date(t).toISOString();
    const store = new PrincipalStore(db, now);
    await store.add(
      principal('carol', ['approver'], ['ops'], [new EdKey('carol-cli').credential()]),
      'admin',
    );
    const reg = new PasskeyRegistrations(db, store, { now, webauthn: RP });
    const opts = await reg.begin('carol');
    expect(opts).toMatchObject({
      rp: { id: RP.rpId },
      authenticatorSelection: { userVerification: 'required' },
      pubKeyCredParams: [{ alg: -7 }],
    });
    const auth = new SoftAuthenticator({ rpId: RP.rpId });
    const response = auth.register(opts.challenge);
    expect(await reg.finish('mallory', opts.challenge, response)).toMatchObject({
      ok: false,
      code: 'CHALLENGE_INVALID',
    });
    const r = await reg.finish('carol', opts.challenge, response);
    expect(r).toMatchObject({
      ok: true,
      value: { id: auth.id, type: 'webauthn', attestation: { fmt: 'none' } },
    });
    // Replaying the same ceremony: the challenge was consumed.
    expect(await reg.finish('carol', opts.challenge, response)).toMatchObject({
      ok: false,
      code: 'CHALLENGE_INVALID',
    });
    // Expired challenge.
    const late = await reg.begin('carol');
    t += 5 * 60_000;
    expect(await reg.finish('carol', late.challenge, auth.register(late.challenge))).toMatchObject({
      code: 'CHALLENGE_INVALID',
    });
  });
});
