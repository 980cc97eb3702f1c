import { afterEach, describe, expect, it, vi } from 'vitest';
import { approvalDigest } from '../../src/core/approval/digest.ts';
import { verifyActionSignature } from '../../src/core/approval/verify-action.ts';
import { bundleDigest } from '../../src/core/governance/digest.ts';
import { draftProposal } from '../../src/core/governance/proposal.ts';
import type { TrustBundle } from '../../src/core/governance/types.ts';
import { intentDigest } from '../../src/core/intent/index.ts';
import { AuditLog } from '../../src/store/audit.ts';
import type { Db } from '../../src/store/db.ts';
import { GovernanceService } from '../../src/store/governance/service.ts';
import { PrincipalStore } from '../../src/store/principals.ts';
import { hashToken, SessionStore } from '../../src/store/sessions.ts';
import { WebhookOutbox } from '../../src/webhooks/outbox.ts';
import { EdKey, makeIntent, principal } from '../approval/fixtures.ts';
import { storeBackends } from '../helpers/db.ts';
import { Admin, config, DAY, genesisOf } from './fixtures.ts';

// PGlite start-up is slow on a loaded 2-core machine; no assertion here is about time.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const backends = await storeBackends();
const alice = new Admin('alice');
const bob = new Admin('bob');
const carol = new Admin('carol');
const admins = [alice, bob, carol];
const approverKey = new EdKey('dan-cli');

async function setup(db: Db) {
  let clock = Date.parse('2026-03-01T10:00:00Z');
  const now = () => new Date(clock).toISOString();
  const webhooks = new WebhookOutbox(db);
  await webhooks.addEndpoint({
    id: 'siem',
    url: 'http://127.0.0.1:9/x',
    secret: 's'.repeat(32),
    events: ['*'],
    now: now(),
  });
  const principals = new PrincipalStore(db, now);
  const audit = new AuditLog(db, { now });
  const gov = new GovernanceService(db, { genesis: genesisOf(admins), now, audit, webhooks, principals });
  const advance = (ms: number) => {
    clock += ms;
  };
  // Bundle 1: bootstrapped by the genesis keys (genesis floor 0).
  const doc1 = draftProposal({
    current: null,
    genesis: genesisOf(admins),
    config: config(admins),
    proposedAt: now(),
    delayMs: 0,
  });
  const p1 = await gov.propose(doc1, alice.genesisVote(doc1));
  if (!p1.ok) throw new Error(p1.message);
  expect(await gov.vote(p1.value.digest, bob.genesisVote(doc1))).toMatchObject({
    ok: true,
    value: { approvals: 2 },
  });
  const e1 = await gov.execute(p1.value.digest);
  if (!e1.ok) throw new Error(e1.message);
  return { gov, principals, webhooks, now, advance, b1: e1.value.bundle, db };
}

const withApprover = () =>
  config(admins, {
    principals: [
      ...admins.map((a) => a.principal()),
      principal('dan', ['approver'], ['ops'], [approverKey.credential()]),
    ],
  });

describe.each(backends)('governance on $name', (backend) => {
  afterEach(() => backend.cleanup());

  it('proposal → votes → delay → execution into bundle 2, audited and announced', async () => {
    const { gov, principals, now, advance, b1, db } = await setup(await backend.open());
    expect((await gov.current())?.version).toBe(1);
    expect((await principals.list()).map((p) => p.id)).toEqual(['alice', 'bob', 'carol']);
    const doc = draftProposal({ current: b1, config: withApprover(), proposedAt: now() });
    expect(doc.effectiveAt).toBe('2026-03-02T10:00:00Z'); // default 24 h
    const p = await gov.propose(doc, alice.vote(doc));
    expect(p).toMatchObject({ ok: true, value: { version: 2, proposer: 'alice', status: 'pending' } });
    if (!p.ok) return;
    expect(await gov.vote(p.value.digest, bob.vote(doc))).toMatchObject({
      ok: true,
      value: { approvals: 2 },
    });
    expect(await gov.vote(p.value.digest, bob.vote(doc))).toMatchObject({ ok: false, code: 'ALREADY_VOTED' });

    // ATTACK: proposal executed before its delay.
    advance(DAY - 1);
    expect(await gov.execute(p.value.digest)).toMatchObject({ ok: false, code: 'DELAY_NOT_ELAPSED' });
    advance(1);
    const e = await gov.execute(p.value.digest);
    expect(e).toMatchObject({ ok: true, value: { bundle: { version: 2, prevDigest: bundleDigest(b1) } } });
    expect(await gov.execute(p.value.digest)).toMatchObject({ ok: false, code: 'NOT_PENDING' });
    expect((await principals.list()).map((x) => x.id)).toEqual(['alice', 'bob', 'carol', 'dan']);

    const kinds = (await db.query<{ kind: string }>('SELECT kind FROM audit_log ORDER BY seq')).rows.map(
      (r) => r.kind,
    );
    expect(kinds).toEqual([
      'governance.proposed',
      'governance.voted',
      'governance.executed',
      'governance.proposed',
      'governance.voted',
      'governance.executed',
    ]);
    const hooks = (
      await db.query<{ event: string }>('SELECT event FROM webhook_outbox ORDER BY id')
    ).rows.map((r) => r.event);
    expect(hooks).toEqual(kinds);
  });

  it('an admin cancels during the delay; not after it; a cancelled proposal never executes', async () => {
    const { gov, now, advance, b1 } = await setup(await backend.open());
    const doc = draftProposal({ current: b1, config: withApprover(), proposedAt: now() });
    const p = await gov.propose(doc, alice.vote(doc));
    if (!p.ok) throw new Error(p.message);
    await gov.vote(p.value.digest, bob.vote(doc));
    // An approve signature is not a cancel signature.
    expect(await gov.cancel(p.value.digest, carol.vote(doc, 'approve'))).toMatchObject({
      code: 'BAD_SIGNATURE',
    });
    expect(await gov.cancel(p.value.digest, carol.vote(doc, 'cancel'))).toMatchObject({
      ok: true,
      value: { status: 'cancelled', closedBy: 'carol' },
    });
    advance(DAY);
    expect(await gov.execute(p.value.digest)).toMatchObject({ ok: false, code: 'NOT_PENDING' });

    const doc2 = draftProposal({ current: b1, config: withApprover(), proposedAt: now() });
    const p2 = await gov.propose(doc2, alice.vote(doc2));
    if (!p2.ok) throw new Error(p2.message);
    advance(DAY);
    expect(await gov.cancel(p2.value.digest, carol.vote(doc2, 'cancel'))).toMatchObject({
      code: 'DELAY_OVER',
    });
    // Quorum not met (only the proposer): not executed even after the delay.
    expect(await gov.execute(p2.value.digest)).toMatchObject({ code: 'QUORUM_NOT_MET' });
  });

  it('ATTACK delay floor lowered in one step, backdated proposals, non-admin signers', async () => {
    const { gov, now, b1 } = await setup(await backend.open());
    const lower = config(admins, { admin: { quorum: 2, delayFloorMs: 0 } });
    const t = Date.parse(now());
    const sneaky = {
      version: 2,
      prevDigest: bundleDigest(b1),
      proposedAt: now(),
      effectiveAt: new Date(t + 3_600_000).toISOString(),
      config: lower,
    };
    expect(await gov.propose(sneaky, alice.vote(sneaky))).toMatchObject({
      ok: false,
      code: 'DELAY_TOO_SHORT',
    });
    const backdated = {
      ...sneaky,
      proposedAt: new Date(t - DAY).toISOString(),
      effectiveAt: new Date(t + 1000).toISOString(),
    };
    expect(await gov.propose(backdated, alice.vote(backdated))).toMatchObject({
      ok: false,
      code: 'CLOCK_SKEW',
    });
    const mallory = new Admin('mallory');
    const doc = draftProposal({ current: b1, config: lower, proposedAt: now() });
    expect(await gov.propose(doc, mallory.vote(doc))).toMatchObject({ ok: false, code: 'NOT_ADMIN' });
    // Lowering the floor properly: waits the old floor (24 h).
    expect(doc.effectiveAt).toBe('2026-03-02T10:00:00Z');
    expect(await gov.propose(doc, alice.vote(doc))).toMatchObject({ ok: true });
  });

  it('ATTACK bundle forged in the DB is rejected on every read and action', async () => {
    const { gov, now, b1, db } = await setup(await backend.open());
    const forged: TrustBundle = structuredClone(b1);
    forged.config.principals.push(
      principal('mallory', ['approver', 'admin'], ['ops'], [new EdKey('mallory').credential()]),
    );
    forged.config.admin.quorum = 1;
    // Read (and verified) once before the forgery: a verification remembered for the stored rows
    // must not outlive a change to them.
    expect(await gov.current()).toEqual(b1);
    await db.exec('ALTER TABLE trust_bundles DISABLE TRIGGER trust_bundles_append_only');
    await db.query('UPDATE trust_bundles SET bundle = $1 WHERE version = 1', [JSON.stringify(forged)]);
    await expect(gov.current()).rejects.toMatchObject({ code: 'BUNDLE_CHAIN_INVALID' });
    const doc = draftProposal({ current: b1, config: withApprover(), proposedAt: now() });
    await expect(gov.propose(doc, alice.vote(doc))).rejects.toMatchObject({ code: 'BUNDLE_CHAIN_INVALID' });
    // And the append-only trigger refuses the edit when it is enabled.
    await db.exec('ALTER TABLE trust_bundles ENABLE TRIGGER trust_bundles_append_only');
    await expect(db.query('UPDATE trust_bundles SET stored_at = $1', ['x'])).rejects.toThrow(/append-only/);
  });

  it('an unchanged chain is handed out again without reading the documents; the bundles are frozen', async () => {
    const { gov, b1, db } = await setup(await backend.open());
    expect(await gov.current()).toEqual(b1);
    const spy = vi.spyOn(db, 'query');
    const again = await gov.chain();
    expect(again.at(-1)).toEqual(b1);
    // Only the row versions were read.
    const texts = spy.mock.calls.map((c) => String(c[0]));
    expect(texts.some((t) => /\bbundle\b.*FROM trust_bundles/.test(t))).toBe(false);
    expect(texts.some((t) => /xmin/.test(t))).toBe(true);
    spy.mockRestore();
    // Shared between readers, so nobody can change one in place.
    expect(() => {
      (again[0]!.config.admin as { quorum: number }).quorum = 1;
    }).toThrow(TypeError);
    expect(Object.isFrozen(again[0]!.config.principals)).toBe(true);
  });

  it('ATTACK a proposal row edited in the DB (effective time moved earlier) is not executed early', async () => {
    const { gov, now, b1, db } = await setup(await backend.open());
    const doc = draftProposal({ current: b1, config: withApprover(), proposedAt: now() });
    const p = await gov.propose(doc, alice.vote(doc));
    if (!p.ok) throw new Error(p.message);
    await gov.vote(p.value.digest, bob.vote(doc));
    await db.query('UPDATE gov_proposals SET effective_at = $1 WHERE digest = $2', [now(), p.value.digest]);
    expect(await gov.execute(p.value.digest)).toMatchObject({ ok: false, code: 'DELAY_NOT_ELAPSED' });
    const edited = { ...doc, effectiveAt: now() };
    await db.query('UPDATE gov_proposals SET document = $1 WHERE digest = $2', [
      JSON.stringify(edited),
      p.value.digest,
    ]);
    await expect(gov.execute(p.value.digest)).rejects.toMatchObject({ code: 'PROPOSAL_TAMPERED' });
  });

  it('ATTACK stolen session cannot change anything', async () => {
    const { gov, now, b1, db } = await setup(await backend.open());
    const sessions = new SessionStore(db, { now });
    const { token } = await sessions.create('alice');
    // Only the hash is stored.
    const stored = (await db.query<{ token_hash: string }>('SELECT token_hash FROM sessions')).rows[0]!
      .token_hash;
    expect(stored).toBe(hashToken(token));
    expect(stored).not.toContain(token);
    // The thief can read …
    const session = await sessions.authenticate(token);
    expect(session).toMatchObject({ principal: 'alice', scope: 'read' });
    expect((await gov.current())?.version).toBe(1);
    const count = async () =>
      (
        await db.query<{ n: string }>(
          'SELECT (SELECT count(*) FROM gov_proposals) + (SELECT count(*) FROM gov_votes) + (SELECT count(*) FROM trust_bundles) AS n',
        )
      ).rows[0]!.n;
    const before = await count();
    // … but every state change needs a signature over that action's digest, which the session lacks.
    const doc = draftProposal({ current: b1, config: withApprover(), proposedAt: now() });
    expect(await gov.propose(doc, undefined)).toMatchObject({ ok: false, code: 'SIGNATURE_REQUIRED' });
    // Replaying a signature alice made for something else does not help.
    const older = draftProposal({ current: b1, config: config(admins), proposedAt: now() });
    expect(await gov.propose(doc, alice.vote(older))).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
    expect(await gov.vote('ab'.repeat(32), undefined)).toMatchObject({ code: 'SIGNATURE_REQUIRED' });
    expect(await gov.cancel('ab'.repeat(32), undefined)).toMatchObject({ code: 'SIGNATURE_REQUIRED' });
    expect(await count()).toBe(before);
    // Intent actions likewise: no signature, or a signature for another action, authorizes nothing.
    const set = await new PrincipalStore(db, now).principalSet();
    const d = intentDigest(makeIntent());
    expect(verifyActionSignature({ kind: 'cancel', intentDigest: d }, undefined, set)).toMatchObject({
      code: 'SIGNATURE_REQUIRED',
    });
    const approveSig = {
      principal: 'alice',
      credentialId: alice.key.id,
      type: 'ed25519' as const,
      signature: alice.key.signRaw(approvalDigest(d, 'approve')),
    };
    expect(
      verifyActionSignature({ kind: 'cancel', intentDigest: d }, approveSig, set, ['admin']),
    ).toMatchObject({ code: 'BAD_SIGNATURE' });
    expect(verifyActionSignature({ kind: 'approve', intentDigest: d }, approveSig, set)).toMatchObject({
      code: 'FORBIDDEN_ROLE',
    });
    // Sessions expire and can be revoked.
    await sessions.revoke(token);
    expect(await sessions.authenticate(token)).toBeNull();
    expect(await sessions.authenticate('not-a-token')).toBeNull();
  });
});
