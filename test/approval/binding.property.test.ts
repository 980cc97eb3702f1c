import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyApprovals } from '../../src/core/approval/verify.ts';
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
} from './fixtures.ts';

/**
 * I2 (binding) as a property: whatever single field of the intent is changed after approval, and
 * whatever byte of a signature is flipped, the approvals no longer verify.
 */
const alice = new EdKey('alice-cli');
const carol = new SoftAuthenticator();
const set = new PrincipalSet(
  [
    principal('alice', ['approver'], ['ops'], [alice.credential()]),
    principal('carol', ['approver'], ['ops'], [passkeyCredential(carol)]),
  ],
  { webauthn: RP },
);
const intent = makeIntent();
const approvals = [approveEd(intent, alice, 'alice'), approveWebAuthn(intent, carol, 'carol')];
const NOW = '2026-03-01T11:00:00Z';

describe('approval binding properties', () => {
  it('holds for the untouched intent', () => {
    expect(verifyApprovals(intent, approvals, set, REQ, NOW)).toEqual({
      ok: true,
      approvers: ['alice', 'carol'],
    });
  });

  it('any changed field voids the approvals, even with the claimed digest rewritten', () => {
    const changes = fc.oneof(
      fc.bigInt({ min: 1n, max: 10n ** 30n }).map((n) => ({ amount: n.toString() })),
      fc.string({ maxLength: 40 }).map((reference) => ({ reference })),
      fc.constantFrom({ wallet: 'hot-2' }, { wallet: 'cold-1' }),
      fc.constantFrom({ requestedBy: 'svc-other' }, { expiresAt: '2026-03-02T10:00:01Z' }),
      fc.uuid({ version: 4 }).map((id) => ({ id })),
    );
    fc.assert(
      fc.property(changes, (over) => {
        let changed: ReturnType<typeof makeIntent>;
        try {
          changed = makeIntent(over);
        } catch {
          return; // not a valid intent: nothing to approve
        }
        if (bytesToHex(intentDigest(changed)) === bytesToHex(intentDigest(intent))) return;
        const relabelled = approvals.map((a) => ({ ...a, intentDigest: bytesToHex(intentDigest(changed)) }));
        expect(verifyApprovals(changed, approvals, set, REQ, NOW).ok).toBe(false);
        expect(verifyApprovals(changed, relabelled, set, REQ, NOW).ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('any flipped signature byte voids the approval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (which, pos, mask) => {
          const a = approvals[which]!;
          const raw = Buffer.from(a.signature, 'base64url');
          const i = pos % raw.length;
          raw[i] = raw[i]! ^ mask;
          const tampered = { ...a, signature: raw.toString('base64url') };
          expect(verifyApprovals(intent, [tampered], set, { ...REQ, quorum: 1 }, NOW).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
