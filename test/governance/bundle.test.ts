import { describe, expect, it } from 'vitest';
import { bundleDigest, verifyBundleChain } from '../../src/core/governance/bundle.ts';
import { proposalDigestHex } from '../../src/core/governance/digest.ts';
import { assembleBundle, DEFAULT_DELAY_MS, draftProposal } from '../../src/core/governance/proposal.ts';
import { EdKey, principal } from '../approval/fixtures.ts';
import { Admin, config, DAY, firstBundle, genesisOf, nextBundle } from './fixtures.ts';

const alice = new Admin('alice');
const bob = new Admin('bob');
const carol = new Admin('carol');
const admins = [alice, bob, carol];
const genesis = genesisOf(admins);

function chain3() {
  const b1 = firstBundle(admins);
  const b2 = nextBundle(
    b1,
    [alice, bob],
    config(admins, { screening: [{ name: 'ofac', digest: 'ab'.repeat(32) }] }),
    '2026-03-02T00:00:00Z',
  );
  const b3 = nextBundle(
    b2,
    [bob, carol],
    config(admins, { checkpointKeys: ['cd'.repeat(32)] }),
    '2026-03-04T00:00:00Z',
    2 * DAY,
  );
  return [b1, b2, b3];
}

describe('trust bundle chain', () => {
  it('verifies a chain from the pinned genesis and returns the latest', () => {
    const bundles = chain3();
    const r = verifyBundleChain(bundles, genesis);
    expect(r).toMatchObject({ ok: true, value: { latest: { version: 3 } } });
    expect(bundles[1]!.prevDigest).toBe(bundleDigest(bundles[0]!));
    expect(bundles[1]!.effectiveAt).toBe('2026-03-03T00:00:00Z'); // default delay 24 h
    expect(DEFAULT_DELAY_MS).toBe(DAY);
  });

  it('ATTACK bundle edited after signing (a forged row in the DB) is rejected', () => {
    const bundles = chain3();
    const forged = structuredClone(bundles);
    forged[2]!.config.principals.push(
      principal('mallory', ['approver'], ['ops'], [new EdKey('mallory').credential()]),
    );
    expect(verifyBundleChain(forged, genesis)).toMatchObject({
      ok: false,
      code: 'BUNDLE_TAMPERED',
      details: { index: 2 },
    });
    // Re-computing the proposal digest does not help: the admin signatures are over the old one.
    forged[2]!.proposalDigest = proposalDigestHex(forged[2]!);
    expect(verifyBundleChain(forged, genesis)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
    // Editing an old bundle breaks the chain after it.
    const old = structuredClone(bundles);
    old[0]!.config.wallets[0]!.config = { address: '0xde709f2102306220921060314715629080e2fb77' };
    old[0]!.proposalDigest = proposalDigestHex(old[0]!);
    expect(verifyBundleChain(old, genesis)).toMatchObject({ code: 'BAD_SIGNATURE', details: { index: 0 } });
  });

  it('ATTACK bundle signed by keys that are not the previous admins (or too few)', () => {
    const b1 = firstBundle(admins);
    const mallory = new Admin('mallory');
    const withMallory = config([...admins, mallory]);
    expect(
      verifyBundleChain([b1, nextBundle(b1, [alice, mallory], withMallory, '2026-03-02T00:00:00Z')], genesis),
    ).toMatchObject({
      code: 'NOT_ADMIN',
    });
    expect(
      verifyBundleChain([b1, nextBundle(b1, [alice], withMallory, '2026-03-02T00:00:00Z')], genesis),
    ).toMatchObject({
      code: 'QUORUM_NOT_MET',
    });
    // Same admin twice is one admin.
    const doc = draftProposal({ current: b1, config: withMallory, proposedAt: '2026-03-02T00:00:00Z' });
    const twice = assembleBundle(doc, [alice.vote(doc), alice.vote(doc)]);
    expect(verifyBundleChain([b1, twice], genesis)).toMatchObject({ code: 'QUORUM_NOT_MET' });
    // A different genesis (an attacker's own root) does not verify the real chain.
    expect(verifyBundleChain([b1], genesisOf([mallory, new Admin('x')]))).toMatchObject({
      code: 'NOT_ADMIN',
    });
  });

  it('ATTACK delay floor lowered in one step, or a bundle effective before the floor', () => {
    const b1 = firstBundle(admins);
    // Drafting below the floor is refused outright.
    expect(() =>
      draftProposal({
        current: b1,
        config: config(admins, { admin: { quorum: 2, delayFloorMs: 0 } }),
        proposedAt: '2026-03-02T00:00:00Z',
        delayMs: 0,
      }),
    ).toThrow(/below the floor/);
    // Hand-built bundle with a zero delay that also lowers the floor: refused by every verifier.
    const doc = {
      version: 2,
      prevDigest: bundleDigest(b1),
      proposedAt: '2026-03-02T00:00:00Z',
      effectiveAt: '2026-03-02T00:00:00Z',
      config: config(admins, { admin: { quorum: 2, delayFloorMs: 0 } }),
    };
    expect(
      verifyBundleChain([b1, assembleBundle(doc, [alice.vote(doc), bob.vote(doc)])], genesis),
    ).toMatchObject({
      code: 'DELAY_TOO_SHORT',
    });
    // Lowering the floor through a proposal that waits the old floor works, and only the *next* proposal benefits.
    const b2 = nextBundle(
      b1,
      [alice, bob],
      config(admins, { admin: { quorum: 2, delayFloorMs: 3_600_000 } }),
      '2026-03-02T00:00:00Z',
    );
    const b3 = nextBundle(
      b2,
      [alice, bob],
      config(admins, { admin: { quorum: 2, delayFloorMs: 3_600_000 } }),
      '2026-03-03T00:00:00Z',
      3_600_000,
    );
    expect(verifyBundleChain([b1, b2, b3], genesis)).toMatchObject({ ok: true });
  });

  it('refuses version gaps, broken links, backwards time, unknown fields and an unsatisfiable quorum', () => {
    const [b1, b2, b3] = chain3();
    expect(verifyBundleChain([b1, b3], genesis)).toMatchObject({ code: 'VERSION_GAP' });
    expect(verifyBundleChain([b2], genesis)).toMatchObject({ code: 'VERSION_GAP' });
    expect(verifyBundleChain([b1, { ...b2!, extra: true }], genesis)).toMatchObject({
      code: 'BUNDLE_MALFORMED',
    });
    const early = nextBundle(b1!, [alice, bob], config(admins), '2026-02-01T00:00:00Z');
    expect(verifyBundleChain([b1, early], genesis)).toMatchObject({ code: 'TIME_REGRESSION' });
    const lockout = nextBundle(
      b1!,
      [alice, bob],
      config(admins, { admin: { quorum: 4, delayFloorMs: DAY } }),
      '2026-03-02T00:00:00Z',
    );
    expect(verifyBundleChain([b1, lockout], genesis)).toMatchObject({ code: 'UNSATISFIABLE_QUORUM' });
    const fork = nextBundle(b1!, [alice, bob], config(admins), '2026-03-02T00:00:00Z');
    expect(verifyBundleChain([b1, b2, { ...b3!, prevDigest: bundleDigest(fork) }], genesis)).toMatchObject({
      code: 'BROKEN_CHAIN',
    });
    expect(verifyBundleChain([], genesis)).toMatchObject({ code: 'EMPTY_CHAIN' });
  });

  it('a revoked admin key no longer signs the next bundle', () => {
    const b1 = firstBundle(admins);
    const revoked = config(admins);
    revoked.principals = revoked.principals.map((p) =>
      p.id === 'carol'
        ? {
            ...p,
            credentials: p.credentials.map((c) => ({
              ...c,
              status: 'revoked' as const,
              revokedAt: '2026-03-02T00:00:00Z',
            })),
          }
        : p,
    );
    const b2 = nextBundle(b1, [alice, bob], revoked, '2026-03-02T00:00:00Z');
    const b3 = nextBundle(b2, [alice, carol], revoked, '2026-03-04T00:00:00Z');
    expect(verifyBundleChain([b1, b2, b3], genesis)).toMatchObject({
      code: 'NOT_ADMIN',
      details: { index: 2 },
    });
  });
});
