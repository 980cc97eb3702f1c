import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCoordinatorConfig } from '../../src/coordinator/config.ts';
import { syncPrincipalsFromBundle } from '../../src/coordinator/principal-sync.ts';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.ts';
import { draftProposal } from '../../src/core/governance/proposal.ts';
import type { BundleConfig, TrustBundle } from '../../src/core/governance/types.ts';
import type { Principal } from '../../src/core/identity/types.ts';
import type { Intent } from '../../src/core/intent/index.ts';
import { AuditLog } from '../../src/store/audit.ts';
import type { Db } from '../../src/store/db.ts';
import { GovernanceService } from '../../src/store/governance/service.ts';
import { openDb } from '../../src/store/open.ts';
import { PrincipalStore } from '../../src/store/principals.ts';
import { approveWebAuthn, passkeyCredential, principal } from '../approval/fixtures.ts';
import { Admin, genesisOf } from '../governance/fixtures.ts';
import { type Backend, DATABASE_URL, storeBackends } from '../helpers/db.ts';
import { SoftAuthenticator } from '../helpers/webauthn.ts';
import { BOOK, CHAIN, ETH, idem, KNOWN, keys, makeIntent, submitBody } from './helpers/fixture.ts';

// `custos serve` records WebAuthn signature counters (WebAuthn L3 §6.1.1): the bundle's principals
// are synced into the principals tables, where the counters live, and a replayed or cloned
// assertion is refused with 409 WEBAUTHN_COUNTER_REPLAY — across restarts. Attack: a credential row
// forged in the database (not in the admin-signed bundle) must not let anyone in.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });
const backends = await storeBackends();

const POLICY = parseYaml(`version: 1
name: serve-counter-test
assets:
  ${ETH}: { symbol: DEVETH, decimals: 18 }
groups:
  operations: { members: [ops-alice, ops-bob, ops-dave, ops-mallory] }
rules:
  - name: block-unknown
    when: { destination: { known: false } }
    action: block
    reason: unknown destination
  - name: approve-large
    when: { amount: { lt: "1000 DEVETH" } }
    action: approve
    approve: { quorum: 2, from: [operations], expiresAfter: 24h }
`);
const BIG = '50000000000000000000';
const seconds = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

const admins = [new Admin('admin-1'), new Admin('admin-2')];
const requester: Principal = {
  ...principal('svc-backoffice', ['requester'], [], [keys.requester.credential()]),
  kind: 'service',
};
const bundleConfig = (ps: Principal[]): BundleConfig => ({
  policy: POLICY,
  principals: [...admins.map((a) => a.principal()), requester, ...ps],
  addressBook: BOOK,
  wallets: [{ id: 'hot-1', chain: CHAIN, type: 'evm-hot', config: { address: KNOWN } }],
  screening: [],
  checkpointKeys: [],
  admin: { quorum: 2, delayFloorMs: 0 },
});

/** Fresh authenticators (their counters are state) and the two bundles naming them. */
function people() {
  const alice = new SoftAuthenticator({ counter: 4 }); // next assertion carries 5
  const bob = new SoftAuthenticator({ counter: 0 }); // does not count
  const bob2 = new SoftAuthenticator({ counter: 0 }); // bob's rotated passkey (bundle 2)
  const dave = new SoftAuthenticator({ counter: 2 }); // added by bundle 2
  const mallory = new SoftAuthenticator({ counter: 0 }); // never in any bundle
  const eve = new SoftAuthenticator({ counter: 0 }); // forged as a second key of ops-alice

  const bobV1 = principal('ops-bob', ['approver'], ['operations'], [passkeyCredential(bob)]);
  const v1 = bundleConfig([
    principal('ops-alice', ['approver'], ['operations'], [passkeyCredential(alice)]),
    bobV1,
  ]);
  // Bundle 2: bob rotates his passkey, dave joins; alice's entry still says counter 0.
  const v2 = bundleConfig([
    principal('ops-alice', ['approver'], ['operations'], [passkeyCredential(alice)]),
    {
      ...bobV1,
      credentials: [
        passkeyCredential(bob, { status: 'revoked', revokedAt: '2026-03-02T10:00:00Z' }),
        passkeyCredential(bob2),
      ],
    },
    principal('ops-dave', ['approver'], ['operations'], [passkeyCredential(dave)]),
  ]);
  return { alice, bob, bob2, dave, mallory, eve, v1, v2 };
}

/** Proposes, votes and executes the next bundle through a governance service WITHOUT a principal
 * store (as `custos up`, the CLI or a coordinator from before this change do). */
async function executeBundle(
  db: Db,
  current: TrustBundle | null,
  config: BundleConfig,
): Promise<TrustBundle> {
  const now = () => new Date().toISOString();
  const gov = new GovernanceService(db, {
    genesis: genesisOf(admins),
    now,
    audit: new AuditLog(db, { now }),
  });
  const doc = draftProposal({
    current,
    genesis: genesisOf(admins),
    config,
    proposedAt: seconds(),
    delayMs: 0,
  });
  const vote = (a: Admin) => (current ? a.vote(doc) : a.genesisVote(doc));
  const p = await gov.propose(doc, vote(admins[0]!));
  if (!p.ok) throw new Error(`${p.code} ${p.message}`);
  const v = await gov.vote(p.value.digest, vote(admins[1]!));
  if (!v.ok) throw new Error(`${v.code} ${v.message}`);
  const e = await gov.execute(p.value.digest);
  if (e.ok) return e.value.bundle;
  // A running coordinator executes due proposals itself (`custos serve`'s refresh): with no delay
  // it may have executed this one first. Then the head is this very proposal.
  const head = await gov.current();
  if (e.code === 'NOT_PENDING' && head?.proposalDigest === p.value.digest) return head;
  throw new Error(`${e.code} ${e.message}`);
}

describe.each(backends)('custos serve records WebAuthn counters on $name', (backend: Backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-serve-counter-'));
  const running: RunningCoordinator[] = [];
  afterAll(async () => {
    for (const r of running) await r.close().catch(() => undefined);
    await backend.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The database with bundle 1 already executed (principal tables still empty), and its config. */
  async function prepare(v1: BundleConfig): Promise<{ databaseYaml: string; b1: TrustBundle }> {
    if (backend.name === 'postgres') {
      const db = await backend.open();
      const b1 = await executeBundle(db, null, v1);
      return {
        databaseYaml: `database: { postgres: { url: { env: TEST_DATABASE_URL }, schema: ${backend.lastSchema} } }`,
        b1,
      };
    }
    const db = await openDb({ dataDir: join(dir, 'db') });
    try {
      return { databaseYaml: 'database: { pgliteDir: db }', b1: await executeBundle(db, null, v1) };
    } finally {
      await db.close();
    }
  }

  async function serve(databaseYaml: string): Promise<RunningCoordinator> {
    const yaml = `version: 1
listen: { host: 127.0.0.1, port: 0 }
${databaseYaml}
genesis: { adminKeys: [${admins.map((a) => `"${a.key.publicKey}"`).join(', ')}], quorum: 2 }
requestKey: { keyId: coordinator-1, seed: { env: TEST_SEED } }
api: { webauthn: { rpId: custos.example, origins: ["https://custos.example"] } }
worker: { enabled: false }
trustRefreshMs: 100
log: { level: silent }
`;
    const cfg = parseCoordinatorConfig(yaml, join(dir, 'custos.yaml'));
    const r = await startCoordinator(cfg, {
      env: { TEST_SEED: '11'.repeat(32), TEST_DATABASE_URL: DATABASE_URL },
      port: 0,
    });
    running.push(r);
    return r;
  }

  // bigint column: a string from node-postgres, a number from PGlite
  const counterOf = async (db: Db, id: string) => {
    const sql = 'SELECT counter FROM principal_credentials WHERE id = $1';
    const c = (await db.query<{ counter: string | number | null }>(sql, [id])).rows[0]?.counter;
    return c === undefined || c === null ? c : Number(c);
  };
  const statusOf = async (db: Db, id: string) =>
    (await db.query<{ status: string }>('SELECT status FROM principal_credentials WHERE id = $1', [id]))
      .rows[0]?.status;
  const syncEntries = async (db: Db) =>
    (
      await db.query<{ subject: string }>(
        `SELECT subject FROM audit_log WHERE kind = 'principals.synced' ORDER BY seq`,
      )
    ).rows.map((r) => r.subject);
  const historyCount = async (db: Db) =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM principal_history')).rows[0]!.n);

  async function pending(r: RunningCoordinator): Promise<Intent> {
    const intent = makeIntent({ amount: BIG });
    const res = await r.coordinator.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: idem(),
      payload: submitBody(intent),
    });
    expect(res.statusCode).toBe(201);
    await r.coordinator.worker.drain();
    expect((await r.coordinator.intents.get(intent.id))?.state).toBe('pending_approval');
    return intent;
  }
  const approve = (r: RunningCoordinator, intent: Intent, payload: unknown) =>
    r.coordinator.app.inject({
      method: 'POST',
      url: `/v1/intents/${intent.id}/approvals`,
      headers: idem(),
      payload: payload as Record<string, unknown>,
    });
  const approversOf = async (r: RunningCoordinator, intent: Intent) =>
    (
      (await r.coordinator.app.inject({ method: 'GET', url: `/v1/intents/${intent.id}` })).json() as {
        approvals: { principal: string }[];
      }
    ).approvals.map((a) => a.principal);

  it('syncs the bundle, refuses replays and clones, keeps counters across a restart and a new bundle', async () => {
    const { alice, bob, bob2, dave, mallory, eve, v1, v2 } = people();
    const { databaseYaml, b1 } = await prepare(v1);

    // ---- first process: start-up syncs bundle 1 into the (empty) principal tables ----
    let r = await serve(databaseYaml);
    expect(await counterOf(r.db, alice.id)).toBe(0);
    expect(await counterOf(r.db, bob.id)).toBe(0);
    expect(await syncEntries(r.db)).toEqual(['trust-bundle:v1']);
    const [one, two] = [await pending(r), await pending(r)];

    const a5 = approveWebAuthn(one, alice, 'ops-alice');
    expect(alice.counter).toBe(5);
    const first = await approve(r, one, a5);
    expect(first.statusCode).toBe(200);
    expect(await approversOf(r, one)).toEqual(['ops-alice']);
    expect(await counterOf(r.db, alice.id)).toBe(5);

    // The very same assertion again (a replay).
    const replay = await approve(r, one, a5);
    expect(replay.statusCode).toBe(409);
    expect(replay.json()).toMatchObject({ status: 409, code: 'WEBAUTHN_COUNTER_REPLAY' });
    // A new assertion carrying counter 5 again (what a cloned authenticator shows).
    alice.counter = 4;
    const clone = await approve(r, two, approveWebAuthn(two, alice, 'ops-alice'));
    expect(clone.json()).toMatchObject({ status: 409, code: 'WEBAUTHN_COUNTER_REPLAY' });
    expect(await approversOf(r, two)).toEqual([]);

    // Counter-0 authenticators are accepted (here, and again after the restart).
    const b0 = await approve(r, two, approveWebAuthn(two, bob, 'ops-bob'));
    expect(b0.statusCode).toBe(200);
    expect(bob.counter).toBe(0);

    // ---- ATTACK: rows forged in the database, for credentials the bundle does not hold ----
    const forgedAt = '2026-03-01T10:00:00Z';
    await r.db.query(
      `INSERT INTO principals (id, kind, roles, groups, status, created_at)
       VALUES ('ops-mallory', 'user', '["approver"]'::jsonb, '["operations"]'::jsonb, 'active', $1)`,
      [forgedAt],
    );
    for (const [owner, a] of [
      ['ops-mallory', mallory],
      ['ops-alice', eve],
    ] as const) {
      await r.db.query(
        `INSERT INTO principal_credentials (id, principal_id, type, public_key, status, added_at, counter)
         VALUES ($1, $2, 'webauthn', $3, 'active', $4, 0)`,
        [a.id, owner, a.publicKey, forgedAt],
      );
    }
    const byMallory = await approve(r, two, approveWebAuthn(two, mallory, 'ops-mallory'));
    const byEve = await approve(r, two, approveWebAuthn(two, eve, 'ops-alice'));
    // Refused by the bundle's verifier, before any counter is read.
    for (const res of [byMallory, byEve]) {
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 'UNKNOWN_CREDENTIAL' });
    }
    expect(await approversOf(r, two)).toEqual(['ops-bob']);
    expect(await counterOf(r.db, mallory.id)).toBe(0); // nothing recorded for a credential nobody verified
    expect(await counterOf(r.db, eve.id)).toBe(0);

    // ---- restart: a new coordinator on the same database; counters still enforced ----
    await r.close();
    r = await serve(databaseYaml);
    // The start-up sync revoked the forged rows (absent from the bundle) in one audited step…
    expect(await syncEntries(r.db)).toEqual(['trust-bundle:v1', 'trust-bundle:v1']);
    expect([await statusOf(r.db, mallory.id), await statusOf(r.db, eve.id)]).toEqual(['revoked', 'revoked']);
    // …and applying the same bundle again changes nothing (what every further restart does).
    const history = await historyCount(r.db);
    const store = new PrincipalStore(r.db, () => new Date().toISOString());
    const deps = { db: r.db, governance: r.governance, principals: store, audit: r.audit };
    expect(await syncPrincipalsFromBundle(deps)).toEqual({ version: 1, changes: 0 });
    expect(await historyCount(r.db)).toBe(history);
    expect(await syncEntries(r.db)).toHaveLength(2);
    expect(await counterOf(r.db, alice.id)).toBe(5);
    const replayed = await approve(r, one, a5);
    expect(replayed.json()).toMatchObject({ status: 409, code: 'WEBAUTHN_COUNTER_REPLAY' });
    alice.counter = 4;
    const cloned = await approve(r, two, approveWebAuthn(two, alice, 'ops-alice'));
    expect(cloned.json()).toMatchObject({ status: 409, code: 'WEBAUTHN_COUNTER_REPLAY' });
    // forged rows are still nobody after the restart's sync
    const again = await approve(r, two, approveWebAuthn(two, mallory, 'ops-mallory'));
    expect(again.json()).toMatchObject({ status: 401, code: 'UNKNOWN_CREDENTIAL' });
    const fresh = await approve(r, two, approveWebAuthn(two, alice, 'ops-alice')); // counter 6
    expect(fresh.statusCode).toBe(200);
    expect((fresh.json() as { approvers: string[] }).approvers.sort()).toEqual(['ops-alice', 'ops-bob']);
    expect(await counterOf(r.db, alice.id)).toBe(6);
    const b0again = await approve(r, one, approveWebAuthn(one, bob, 'ops-bob'));
    expect(b0again.statusCode).toBe(200);
    expect(await counterOf(r.db, bob.id)).toBe(0);

    // ---- a new bundle executed elsewhere: the running coordinator's refresh syncs it ----
    await executeBundle(r.db, b1, v2);
    const deadline = Date.now() + 60_000;
    while ((await statusOf(r.db, dave.id)) === undefined) {
      if (Date.now() > deadline) throw new Error('bundle 2 was not synced');
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(await syncEntries(r.db)).toEqual(['trust-bundle:v1', 'trust-bundle:v1', 'trust-bundle:v2']);
    expect(await counterOf(r.db, alice.id)).toBe(6); // the bundle's counter 0 never lowers it
    expect(await statusOf(r.db, bob.id)).toBe('revoked'); // rotation: old revoked, new active
    expect(await statusOf(r.db, bob2.id)).toBe('active');
    const three = await pending(r);
    const d3 = approveWebAuthn(three, dave, 'ops-dave');
    expect((await approve(r, three, d3)).statusCode).toBe(200);
    expect(await counterOf(r.db, dave.id)).toBe(3);
    expect((await approve(r, three, d3)).json()).toMatchObject({ code: 'WEBAUTHN_COUNTER_REPLAY' });
    // bob's rotated-out passkey is refused by the bundle (revoked), his new one works
    const old = await approve(r, three, approveWebAuthn(three, bob, 'ops-bob'));
    expect(old.statusCode).toBe(403);
    expect((await approve(r, three, approveWebAuthn(three, bob2, 'ops-bob'))).statusCode).toBe(200);
  });
});
