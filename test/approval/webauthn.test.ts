import { bytesToHex } from '@noble/hashes/utils.js';
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import { describe, expect, it } from 'vitest';
import { approvalDigest } from '../../src/core/approval/digest.ts';
import { verifyApprovals } from '../../src/core/approval/verify.ts';
import { PrincipalSet } from '../../src/core/identity/principal-set.ts';
import { verifyPasskeyRegistration } from '../../src/core/identity/webauthn-registration.ts';
import { intentDigest } from '../../src/core/intent/index.ts';
import { SoftAuthenticator } from '../helpers/webauthn.ts';
import { makeIntent, principal, RP, T0 } from './fixtures.ts';

const CHALLENGE = 'dGhpcy1pcy1hLXNpbmdsZS11c2UtY2hhbGxlbmdl';

describe('passkey registration with @simplewebauthn/server', () => {
  it('registers a software passkey (UV, none attestation, ES256) and records attestation and counter', async () => {
    const auth = new SoftAuthenticator({ counter: 7 });
    const r = await verifyPasskeyRegistration({
      response: auth.register(CHALLENGE),
      expectedChallenge: CHALLENGE,
      webauthn: RP,
      now: T0,
    });
    expect(r).toMatchObject({
      ok: true,
      value: {
        id: auth.id,
        type: 'webauthn',
        publicKey: auth.publicKey,
        counter: 7,
        attestation: { fmt: 'none' },
      },
    });
  });

  it('refuses a registration without user verification, for another challenge or origin, or a duplicate id', async () => {
    const noUv = new SoftAuthenticator({ userVerified: false });
    expect(
      await verifyPasskeyRegistration({
        response: noUv.register(CHALLENGE),
        expectedChallenge: CHALLENGE,
        webauthn: RP,
        now: T0,
      }),
    ).toMatchObject({ ok: false, code: 'WEBAUTHN_REGISTRATION_FAILED' });
    const a = new SoftAuthenticator();
    expect(
      await verifyPasskeyRegistration({
        response: a.register('b3RoZXI'),
        expectedChallenge: CHALLENGE,
        webauthn: RP,
        now: T0,
      }),
    ).toMatchObject({ ok: false, code: 'WEBAUTHN_REGISTRATION_FAILED' });
    const phish = new SoftAuthenticator({ origin: 'https://evil.example' });
    expect(
      await verifyPasskeyRegistration({
        response: phish.register(CHALLENGE),
        expectedChallenge: CHALLENGE,
        webauthn: RP,
        now: T0,
      }),
    ).toMatchObject({ ok: false, code: 'WEBAUTHN_REGISTRATION_FAILED' });
    expect(
      await verifyPasskeyRegistration({
        response: a.register(CHALLENGE),
        expectedChallenge: CHALLENGE,
        webauthn: RP,
        now: T0,
        existingCredentialIds: new Set([a.id]),
      }),
    ).toMatchObject({ ok: false, code: 'CREDENTIAL_EXISTS' });
  });

  it('an approval assertion is accepted by @simplewebauthn/server and by our node:crypto verifier alike', async () => {
    const auth = new SoftAuthenticator({ counter: 1 });
    const reg = await verifyPasskeyRegistration({
      response: auth.register(CHALLENGE),
      expectedChallenge: CHALLENGE,
      webauthn: RP,
      now: T0,
    });
    if (!reg.ok) throw new Error(reg.message);
    const intent = makeIntent();
    const d = intentDigest(intent);
    const challenge = Buffer.from(approvalDigest(d, 'approve')).toString('base64url');
    const response = auth.authenticate(challenge);
    const lib = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: RP.origins,
      expectedRPID: RP.rpId,
      credential: {
        id: reg.value.id,
        publicKey: Buffer.from(reg.value.publicKey, 'base64url'),
        counter: reg.value.counter!,
      },
      requireUserVerification: true,
    });
    expect(lib.verified).toBe(true);
    expect(lib.authenticationInfo.newCounter).toBe(2);
    const set = new PrincipalSet([principal('carol', ['approver'], ['ops'], [reg.value])], { webauthn: RP });
    const approval = {
      principal: 'carol',
      credentialId: auth.id,
      type: 'webauthn' as const,
      ...response.response,
      decision: 'approve' as const,
      intentDigest: bytesToHex(d),
    };
    expect(
      verifyApprovals(
        intent,
        [approval],
        set,
        { quorum: 1, from: ['ops'], distinct: true, excludeRequester: true },
        T0,
      ),
    ).toEqual({ ok: true, approvers: ['carol'] });
  });
});
