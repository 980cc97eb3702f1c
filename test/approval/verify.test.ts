import { createHash } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { APPROVAL_DOMAIN_TAG, approvalDigest } from '../../src/core/approval/digest.ts';
import { verifyApprovals, verifyRequesterSignature } from '../../src/core/approval/verify.ts';
import { PrincipalSet } from '../../src/core/identity/principal-set.ts';
import { intentDigest } from '../../src/core/intent/index.ts';
import { SoftAuthenticator } from '../helpers/webauthn.ts';
import {
  approveEd,
  approveWebAuthn,
  EdKey,
  makeIntent,
  passkeyCredential,
  principal,
  REQ,
  RP,
  T0,
} from './fixtures.ts';

const NOW = '2026-03-01T11:00:00Z';
const svcKey = new EdKey('svc-key-1');
const aliceKey = new EdKey('alice-cli');
const aliceKey2 = new EdKey('alice-cli-2');
const bobKey = new EdKey('bob-cli');
const carolPasskey = new SoftAuthenticator();
const daveKey = new EdKey('dave-cli');
const outsiderKey = new EdKey('eve-cli');

function world(over: { revokeBob?: boolean; revokeAlice?: boolean } = {}) {
  return new PrincipalSet(
    [
      {
        ...principal('svc-backoffice', ['requester', 'approver'], ['ops'], [svcKey.credential()]),
        kind: 'service',
      },
      principal('alice', ['approver'], ['ops'], [aliceKey.credential(), aliceKey2.credential()]),
      {
        ...principal(
          'bob',
          ['approver'],
          ['ops'],
          [bobKey.credential(over.revokeBob ? { status: 'revoked', revokedAt: T0 } : {})],
        ),
      },
      principal('carol', ['approver'], ['ops'], [passkeyCredential(carolPasskey)]),
      principal('dave', ['approver'], ['treasury'], [daveKey.credential()]),
      principal('eve', ['auditor'], ['ops'], [outsiderKey.credential()]),
    ].map((p) => (over.revokeAlice && p.id === 'alice' ? { ...p, status: 'revoked' as const } : p)),
    { webauthn: RP },
  );
}

describe('approval digest', () => {
  it('is SHA-256(tag || intent digest || decision), and differs per decision', () => {
    const d = intentDigest(makeIntent());
    const a = approvalDigest(d, 'approve');
    const r = approvalDigest(d, 'reject');
    expect(APPROVAL_DOMAIN_TAG).toBe('CUSTOS-APPROVAL-V1\n');
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from('CUSTOS-APPROVAL-V1\n'), d, Buffer.from('approve')]))
      .digest();
    expect(bytesToHex(a)).toBe(bytesToHex(expected));
    expect(bytesToHex(a)).not.toBe(bytesToHex(r));
    expect(() => approvalDigest(d.subarray(1), 'approve')).toThrow(/32 bytes/);
  });
});

describe('requester signature', () => {
  const intent = makeIntent();
  it('accepts an operator submitting with a passkey (challenge = intent digest)', () => {
    const opKey = new SoftAuthenticator();
    const set = new PrincipalSet([principal('op-jane', ['requester'], [], [passkeyCredential(opKey)])], {
      webauthn: RP,
    });
    const mine = makeIntent({ requestedBy: 'op-jane' });
    const sig = opKey.signDigest(intentDigest(mine), 'op-jane');
    expect(verifyRequesterSignature(mine, sig, set, NOW)).toMatchObject({
      ok: true,
      value: { principal: 'op-jane' },
    });
    // The same assertion does not submit a changed intent.
    const changed = makeIntent({ requestedBy: 'op-jane', amount: '5' });
    expect(verifyRequesterSignature(changed, sig, set, NOW)).toMatchObject({ code: 'WEBAUTHN_CHALLENGE' });
  });
  it('accepts the requester signing the intent digest', () => {
    const r = verifyRequesterSignature(
      intent,
      svcKey.sign(intentDigest(intent), 'svc-backoffice'),
      world(),
      NOW,
    );
    expect(r).toMatchObject({ ok: true, value: { principal: 'svc-backoffice' } });
  });
  it('refuses a signature by someone else, a changed intent, a missing role', () => {
    const sig = svcKey.sign(intentDigest(intent), 'svc-backoffice');
    const changed = makeIntent({ amount: '2000000000000000000' });
    expect(verifyRequesterSignature(changed, sig, world(), NOW)).toMatchObject({
      ok: false,
      code: 'BAD_SIGNATURE',
    });
    const byAlice = aliceKey.sign(intentDigest(intent), 'alice');
    expect(verifyRequesterSignature(intent, byAlice, world(), NOW)).toMatchObject({
      code: 'REQUESTER_MISMATCH',
    });
    const asAlice = makeIntent({ requestedBy: 'alice' });
    expect(
      verifyRequesterSignature(asAlice, aliceKey.sign(intentDigest(asAlice), 'alice'), world(), NOW),
    ).toMatchObject({ code: 'NOT_REQUESTER' });
    expect(verifyRequesterSignature(intent, sig, world(), '2026-03-03T00:00:00Z')).toMatchObject({
      code: 'INTENT_EXPIRED',
    });
  });
  it('refuses a credential claimed by the wrong principal', () => {
    const sig = { ...aliceKey.sign(intentDigest(intent), 'alice'), principal: 'svc-backoffice' };
    expect(verifyRequesterSignature(intent, sig, world(), NOW)).toMatchObject({
      code: 'CREDENTIAL_MISMATCH',
    });
  });
});

describe('verifyApprovals', () => {
  const intent = makeIntent();
  it('counts a quorum of Ed25519 and WebAuthn approvals from distinct approvers', () => {
    const r = verifyApprovals(
      intent,
      [approveEd(intent, aliceKey, 'alice'), approveWebAuthn(intent, carolPasskey, 'carol')],
      world(),
      REQ,
      NOW,
    );
    expect(r).toEqual({ ok: true, approvers: ['alice', 'carol'] });
  });

  it('ATTACK approval replayed on another intent', () => {
    const other = makeIntent({ id: '7d1f6a00-3b7e-4c55-8d0e-8f7b7c6d5e4f' });
    const a = approveEd(other, aliceKey, 'alice');
    const b = approveEd(intent, bobKey, 'bob');
    expect(verifyApprovals(intent, [a, b], world(), REQ, NOW)).toMatchObject({
      ok: false,
      code: 'WRONG_INTENT',
    });
    // Rewriting the claimed digest does not help: the signature is over the other intent's digest.
    const relabelled = { ...a, intentDigest: bytesToHex(intentDigest(intent)) };
    expect(verifyApprovals(intent, [relabelled, b], world(), REQ, NOW)).toMatchObject({
      code: 'BAD_SIGNATURE',
    });
    // Also across chains: same fields on another chain id is another digest.
    const onOtherChain = makeIntent({ chain: 'eip155:10', asset: 'eip155:10/slip44:60' });
    expect(
      verifyApprovals(
        onOtherChain,
        [
          { ...approveEd(intent, aliceKey, 'alice'), intentDigest: bytesToHex(intentDigest(onOtherChain)) },
          approveEd(onOtherChain, bobKey, 'bob'),
        ],
        world(),
        REQ,
        NOW,
      ),
    ).toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it('ATTACK intent field changed after approval (amount, destination, wallet)', () => {
    const approvals = [approveEd(intent, aliceKey, 'alice'), approveWebAuthn(intent, carolPasskey, 'carol')];
    for (const over of [
      { amount: '1000000000000000001' },
      { destination: '0xde709f2102306220921060314715629080e2fb77' },
      { wallet: 'hot-2' },
    ]) {
      const tampered = makeIntent(over);
      expect(verifyApprovals(tampered, approvals, world(), REQ, NOW)).toMatchObject({
        ok: false,
        code: 'WRONG_INTENT',
      });
      const relabelled = approvals.map((a) => ({ ...a, intentDigest: bytesToHex(intentDigest(tampered)) }));
      const r = verifyApprovals(tampered, relabelled, world(), REQ, NOW);
      expect(r.ok).toBe(false);
      expect(['BAD_SIGNATURE', 'WEBAUTHN_CHALLENGE']).toContain(r.ok ? '' : r.code);
    }
  });

  it('ATTACK reject turned into approve (Ed25519 and WebAuthn)', () => {
    const rejectEd = approveEd(intent, aliceKey, 'alice', 'reject');
    const flipped = { ...rejectEd, decision: 'approve' as const };
    expect(
      verifyApprovals(intent, [flipped, approveEd(intent, bobKey, 'bob')], world(), REQ, NOW),
    ).toMatchObject({
      code: 'BAD_SIGNATURE',
    });
    const rejectWa = approveWebAuthn(intent, carolPasskey, 'carol', 'reject');
    expect(
      verifyApprovals(
        intent,
        [approveEd(intent, bobKey, 'bob'), { ...rejectWa, decision: 'approve' }],
        world(),
        REQ,
        NOW,
      ),
    ).toMatchObject({ code: 'WEBAUTHN_CHALLENGE' });
  });

  it('a valid reject from any approver ends the intent', () => {
    const r = verifyApprovals(
      intent,
      [
        approveEd(intent, aliceKey, 'alice'),
        approveEd(intent, bobKey, 'bob'),
        approveWebAuthn(intent, carolPasskey, 'carol', 'reject'),
      ],
      world(),
      REQ,
      NOW,
    );
    expect(r).toMatchObject({ ok: false, code: 'REJECTED', details: { principal: 'carol' } });
  });

  it('ATTACK requester approving their own intent', () => {
    const self = approveEd(intent, svcKey, 'svc-backoffice');
    expect(
      verifyApprovals(intent, [self, approveEd(intent, aliceKey, 'alice')], world(), REQ, NOW),
    ).toMatchObject({
      code: 'SELF_APPROVAL',
    });
    // Allowed only when the rule says so explicitly.
    expect(
      verifyApprovals(
        intent,
        [self, approveEd(intent, aliceKey, 'alice')],
        world(),
        { ...REQ, excludeRequester: false },
        NOW,
      ),
    ).toEqual({ ok: true, approvers: ['svc-backoffice', 'alice'] });
  });

  it('ATTACK one person with two credentials counted twice', () => {
    const r = verifyApprovals(
      intent,
      [approveEd(intent, aliceKey, 'alice'), approveEd(intent, aliceKey2, 'alice')],
      world(),
      REQ,
      NOW,
    );
    expect(r).toMatchObject({ ok: false, code: 'QUORUM_NOT_MET' });
    // Even when the rule's `distinct` is false: one person is one approver.
    expect(
      verifyApprovals(
        intent,
        [approveEd(intent, aliceKey, 'alice'), approveEd(intent, aliceKey, 'alice')],
        world(),
        { ...REQ, distinct: false },
        NOW,
      ),
    ).toMatchObject({ code: 'QUORUM_NOT_MET' });
  });

  it('ATTACK revoked approver (credential or principal)', () => {
    const set = [approveEd(intent, aliceKey, 'alice'), approveEd(intent, bobKey, 'bob')];
    expect(verifyApprovals(intent, set, world({ revokeBob: true }), REQ, NOW)).toMatchObject({
      code: 'REVOKED_CREDENTIAL',
    });
    expect(verifyApprovals(intent, set, world({ revokeAlice: true }), REQ, NOW)).toMatchObject({
      code: 'REVOKED_PRINCIPAL',
    });
  });

  it('ATTACK expired approval', () => {
    const set = [approveEd(intent, aliceKey, 'alice'), approveEd(intent, bobKey, 'bob')];
    const req = { ...REQ, expiresAfterMs: 3_600_000 };
    expect(verifyApprovals(intent, set, world(), req, '2026-03-01T10:59:59Z').ok).toBe(true);
    expect(verifyApprovals(intent, set, world(), req, '2026-03-01T11:00:00Z')).toMatchObject({
      code: 'APPROVAL_EXPIRED',
    });
    // Intent expiry voids approvals whatever the rule says.
    expect(verifyApprovals(intent, set, world(), REQ, '2026-03-02T10:00:00Z')).toMatchObject({
      code: 'APPROVAL_EXPIRED',
    });
  });

  it('refuses signers outside the allowed groups or without the approver role, unknown keys', () => {
    expect(
      verifyApprovals(
        intent,
        [approveEd(intent, daveKey, 'dave'), approveEd(intent, aliceKey, 'alice')],
        world(),
        REQ,
        NOW,
      ),
    ).toMatchObject({
      code: 'NOT_APPROVER',
    });
    expect(verifyApprovals(intent, [approveEd(intent, outsiderKey, 'eve')], world(), REQ, NOW)).toMatchObject(
      { code: 'NOT_APPROVER' },
    );
    const stranger = new EdKey('stranger');
    expect(verifyApprovals(intent, [approveEd(intent, stranger, 'alice')], world(), REQ, NOW)).toMatchObject({
      code: 'UNKNOWN_CREDENTIAL',
    });
    // A key claimed by one principal but registered to another.
    expect(verifyApprovals(intent, [approveEd(intent, bobKey, 'alice')], world(), REQ, NOW)).toMatchObject({
      code: 'CREDENTIAL_MISMATCH',
    });
  });

  it('fails closed on a malformed requirement or clock', () => {
    const set = [approveEd(intent, aliceKey, 'alice'), approveEd(intent, bobKey, 'bob')];
    for (const bad of [
      { ...REQ, expiresAfterMs: Number.NaN },
      { ...REQ, expiresAfterMs: -1 },
      { ...REQ, quorum: 1.5 },
      { ...REQ, from: [1 as unknown as string] },
    ]) {
      expect(verifyApprovals(intent, set, world(), bad, NOW)).toMatchObject({ code: 'INVALID_REQUIREMENT' });
    }
    expect(verifyApprovals(intent, set, world(), REQ, 'yesterday')).toMatchObject({
      code: 'INVALID_REQUIREMENT',
    });
    const sig = svcKey.sign(intentDigest(intent), 'svc-backoffice');
    expect(verifyRequesterSignature(intent, sig, world(), 'soon')).toMatchObject({ code: 'INVALID_TIME' });
  });

  it('refuses malformed approvals (unknown fields, padded base64)', () => {
    const a = approveEd(intent, aliceKey, 'alice');
    expect(verifyApprovals(intent, [{ ...a, extra: 1 } as never], world(), REQ, NOW)).toMatchObject({
      code: 'MALFORMED_APPROVAL',
    });
    expect(
      verifyApprovals(intent, [{ ...a, signature: `${a.signature}==` }], world(), REQ, NOW),
    ).toMatchObject({
      code: 'MALFORMED_APPROVAL',
    });
  });
});

describe('WebAuthn assertion checks', () => {
  const intent = makeIntent();
  const other = () => approveEd(intent, aliceKey, 'alice');
  it('requires user verification', () => {
    const noUv = new SoftAuthenticator({ userVerified: false });
    const set = new PrincipalSet([principal('carol', ['approver'], ['ops'], [passkeyCredential(noUv)])], {
      webauthn: RP,
    });
    expect(
      verifyApprovals(intent, [approveWebAuthn(intent, noUv, 'carol')], set, { ...REQ, quorum: 1 }, NOW),
    ).toMatchObject({
      code: 'WEBAUTHN_USER_VERIFICATION',
    });
  });
  it('refuses another origin, another relying party, a registration-type clientData, no RP configured', () => {
    const phish = new SoftAuthenticator({ origin: 'https://custos.example.evil' });
    const otherRp = new SoftAuthenticator({ rpId: 'evil.example' });
    const mk = (a: SoftAuthenticator) =>
      new PrincipalSet(
        [
          principal('carol', ['approver'], ['ops'], [passkeyCredential(a)]),
          principal('alice', ['approver'], ['ops'], [aliceKey.credential()]),
        ],
        { webauthn: RP },
      );
    expect(
      verifyApprovals(intent, [approveWebAuthn(intent, phish, 'carol'), other()], mk(phish), REQ, NOW),
    ).toMatchObject({
      code: 'WEBAUTHN_ORIGIN',
    });
    expect(
      verifyApprovals(intent, [approveWebAuthn(intent, otherRp, 'carol'), other()], mk(otherRp), REQ, NOW),
    ).toMatchObject({
      code: 'WEBAUTHN_RP_ID',
    });
    const d = approvalDigest(intentDigest(intent), 'approve');
    const created = {
      principal: 'carol',
      credentialId: carolPasskey.id,
      type: 'webauthn' as const,
      ...carolPasskey.assert(Buffer.from(d).toString('base64url'), { type: 'webauthn.create' }),
      decision: 'approve' as const,
      intentDigest: bytesToHex(intentDigest(intent)),
    };
    expect(verifyApprovals(intent, [created, other()], world(), REQ, NOW)).toMatchObject({
      code: 'WEBAUTHN_TYPE',
    });
    const noRp = new PrincipalSet(world().principals);
    expect(
      verifyApprovals(intent, [approveWebAuthn(intent, carolPasskey, 'carol'), other()], noRp, REQ, NOW),
    ).toMatchObject({
      code: 'WEBAUTHN_NOT_CONFIGURED',
    });
  });
  it('refuses a tampered authenticatorData (flags flipped after signing)', () => {
    const a = approveWebAuthn(intent, carolPasskey, 'carol');
    if (a.type !== 'webauthn') throw new Error('unreachable');
    const ad = Buffer.from(a.authenticatorData, 'base64url');
    ad[32] = ad[32]! | 0x08;
    const tampered = { ...a, authenticatorData: ad.toString('base64url') };
    expect(verifyApprovals(intent, [tampered, other()], world(), REQ, NOW)).toMatchObject({
      code: 'BAD_SIGNATURE',
    });
  });
});
