import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { governanceAdapter } from '../../src/coordinator/adapters/governance.ts';
import { approvalDigest } from '../../src/core/approval/digest.ts';
import { verifyApprovals } from '../../src/core/approval/verify.ts';
import { draftProposal } from '../../src/core/governance/proposal.ts';
import { PrincipalSet } from '../../src/core/identity/principal-set.ts';
import { intentDigest } from '../../src/core/intent/index.ts';
import { GovernanceService } from '../../src/store/governance/service.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openDb } from '../../src/store/open.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { makeIntent } from '../approval/fixtures.ts';
import { Admin, config, genesisOf } from './fixtures.ts';

// PGlite start-up is slow on a loaded 2-core machine; no assertion here is about time.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const dir = mkdtempSync(join(tmpdir(), 'custos-gov-cli-'));
const p = (f: string) => join(dir, f);

async function run(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'custos', ...args]);
    return { code, out };
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
}

const keys: Record<string, string> = {};

beforeAll(async () => {
  process.env.CUSTOS_TEST_PASS = 'correct horse battery staple';
  for (const who of ['alice', 'bob', 'dan']) {
    const r = await run([
      'principal',
      'keygen',
      '--out',
      p(`${who}.key`),
      '--label',
      `${who}-cli`,
      '--passphrase-env',
      'CUSTOS_TEST_PASS',
      '--scrypt-n',
      '1024',
    ]);
    expect(r.code).toBe(0);
    keys[who] = JSON.parse(r.out).publicKey;
  }
});
afterAll(() => {
  delete process.env.CUSTOS_TEST_PASS;
});

const pass = ['--passphrase-env', 'CUSTOS_TEST_PASS'];

describe('custos CLI: approval, principal, propose, vote, bundle', () => {
  it('bootstraps bundle 1 from genesis keys, verifies it offline, and refuses another genesis', async () => {
    const admin = (id: string) => ({
      id,
      kind: 'user',
      roles: ['admin'],
      groups: [],
      status: 'active',
      credentials: [
        {
          id: `${id}-cli`,
          type: 'ed25519',
          publicKey: keys[id],
          status: 'active',
          addedAt: '2026-03-01T00:00:00Z',
        },
      ],
    });
    writeFileSync(
      p('config1.json'),
      JSON.stringify({
        policy: { version: 1 },
        principals: [admin('alice'), admin('bob')],
        addressBook: [],
        wallets: [],
        screening: [],
        checkpointKeys: [],
        admin: { quorum: 2, delayFloorMs: 86_400_000 },
      }),
    );
    writeFileSync(p('genesis.json'), JSON.stringify({ adminKeys: [keys.alice, keys.bob], quorum: 2 }));
    const g = (who: string) => ['--key', p(`${who}.key`), '--principal', `genesis:${keys[who]}`, ...pass];
    const prop = await run([
      'propose',
      '--config',
      p('config1.json'),
      '--genesis',
      p('genesis.json'),
      '--delay',
      '0',
      '--out',
      p('p1.json'),
      ...g('alice'),
    ]);
    expect(prop.code).toBe(0);
    const { digest } = JSON.parse(prop.out);
    const vote = await run(['vote', p('p1.json'), ...g('bob')]);
    expect(vote.code).toBe(0);
    expect(JSON.parse(vote.out)).toMatchObject({ proposal: digest, vote: 'approve' });
    writeFileSync(p('v1.json'), vote.out);
    expect(
      (await run(['bundle', 'assemble', p('p1.json'), '--vote', p('v1.json'), '--out', p('b1.json')])).code,
    ).toBe(0);
    const ok = await run(['bundle', 'verify', p('b1.json'), '--genesis', p('genesis.json'), '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ ok: true, version: 1 });
    const other = await run([
      'bundle',
      'verify',
      p('b1.json'),
      '--genesis',
      keys.dan!,
      '--quorum',
      '1',
      '--json',
    ]);
    expect(other.code).toBe(1);
    expect(JSON.parse(other.out)).toMatchObject({ ok: false, code: 'NOT_ADMIN' });
    // Edited after signing: refused.
    const b1 = JSON.parse(readFileSync(p('b1.json'), 'utf8'));
    b1.config.admin.quorum = 1;
    writeFileSync(p('b1-forged.json'), JSON.stringify(b1));
    const forged = await run([
      'bundle',
      'verify',
      p('b1-forged.json'),
      '--genesis',
      p('genesis.json'),
      '--json',
    ]);
    expect(JSON.parse(forged.out)).toMatchObject({ ok: false, code: 'BUNDLE_TAMPERED' });
    const show = await run(['bundle', 'show', p('b1.json'), '--json']);
    expect(JSON.parse(show.out)).toMatchObject({
      version: 1,
      admin: { quorum: 2 },
      principals: [{ id: 'alice' }, { id: 'bob' }],
    });
    // A proposal below the floor is refused by the CLI itself.
    const low = await run([
      'propose',
      '--config',
      p('config1.json'),
      '--current',
      p('b1.json'),
      '--delay',
      '1h',
      ...g('alice'),
    ]);
    expect(low.code).toBe(2);
    expect(JSON.parse(low.out)).toMatchObject({ code: 'DELAY_BELOW_FLOOR' });
  });

  it('adds an approver to a draft, who then signs an approval the verifier accepts', async () => {
    const add = await run([
      'principal',
      'add',
      '--config',
      p('b1.json'),
      '--out',
      p('config2.json'),
      '--id',
      'dan',
      '--role',
      'approver',
      '--group',
      'ops',
      '--ed25519',
      keys.dan!,
      '--credential-id',
      'dan-cli',
      '--at',
      '2026-03-01T00:00:00Z',
    ]);
    expect(add.code).toBe(0);
    const rot = await run([
      'principal',
      'revoke',
      '--config',
      p('config2.json'),
      '--out',
      p('config3.json'),
      '--id',
      'dan',
      '--credential',
      'dan-cli',
    ]);
    expect(rot.code).toBe(0);
    const intent = makeIntent();
    writeFileSync(p('intent.json'), JSON.stringify(intent));
    const dg = await run(['approval', 'digest', p('intent.json'), '--decision', 'reject', '--json']);
    expect(JSON.parse(dg.out)).toMatchObject({
      approvalDigest: bytesToHex(approvalDigest(intentDigest(intent), 'reject')),
    });
    const ap = await run(['approve', p('intent.json'), '--key', p('dan.key'), '--principal', 'dan', ...pass]);
    expect(ap.code).toBe(0);
    const approval = JSON.parse(ap.out);
    const cfg2 = JSON.parse(readFileSync(p('config2.json'), 'utf8'));
    const req = { quorum: 1, from: ['ops'], distinct: true, excludeRequester: true };
    expect(
      verifyApprovals(intent, [approval], new PrincipalSet(cfg2.principals), req, '2026-03-01T11:00:00Z'),
    ).toEqual({
      ok: true,
      approvers: ['dan'],
    });
    const cfg3 = JSON.parse(readFileSync(p('config3.json'), 'utf8'));
    expect(
      verifyApprovals(intent, [approval], new PrincipalSet(cfg3.principals), req, '2026-03-01T11:00:00Z'),
    ).toMatchObject({
      code: 'REVOKED_CREDENTIAL',
    });
    // A wrong passphrase signs nothing.
    process.env.CUSTOS_WRONG = 'not the passphrase';
    const bad = await run([
      'approve',
      p('intent.json'),
      '--key',
      p('dan.key'),
      '--principal',
      'dan',
      '--passphrase-env',
      'CUSTOS_WRONG',
    ]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.out)).toMatchObject({ code: 'KEYSTORE_DECRYPT_FAILED' });
  });
});

describe('custos bundle export', () => {
  it('exports the verified chain from the node database, and refuses a forged one', async () => {
    const node = join(dir, 'node');
    writeFileSync(
      p('config.yaml'),
      `custos: 1\ndataDir: node\nnodeKey:\n  keystore: none.json\naudit:\n  checkpointEvery: 0\n  checkpointKeys: [${'ab'.repeat(32)}]\n`,
    );
    const a = new Admin('alice');
    const b = new Admin('bob');
    const genesis = genesisOf([a, b]);
    writeFileSync(p('genesis2.json'), JSON.stringify(genesis));
    const db = await openDb({ dataDir: node });
    try {
      const gov = new GovernanceService(db, { genesis, now: () => '2026-03-01T10:00:00.000Z' });
      const doc = draftProposal({
        current: null,
        genesis,
        config: config([a, b]),
        proposedAt: '2026-03-01T10:00:00Z',
        delayMs: 0,
      });
      const prop = await gov.propose(doc, a.genesisVote(doc));
      if (!prop.ok) throw new Error(prop.message);
      await gov.vote(prop.value.digest, b.genesisVote(doc));
      expect(await gov.execute(prop.value.digest)).toMatchObject({ ok: true });
    } finally {
      await db.close();
    }
    const exp = await run([
      'bundle',
      'export',
      '--config',
      p('config.yaml'),
      '--genesis',
      p('genesis2.json'),
      '--out',
      p('chain.json'),
    ]);
    expect(exp.code).toBe(0);
    expect(JSON.parse(exp.out)).toMatchObject({ ok: true, bundles: 1, version: 1 });
    const v = await run(['bundle', 'verify', p('chain.json'), '--genesis', p('genesis2.json'), '--json']);
    expect(JSON.parse(v.out)).toMatchObject({ ok: true, version: 1 });

    const db2 = await openDb({ dataDir: node });
    try {
      await db2.exec('ALTER TABLE trust_bundles DISABLE TRIGGER trust_bundles_append_only');
      const row = (await db2.query<{ bundle: string }>('SELECT bundle FROM trust_bundles')).rows[0]!;
      const forged = JSON.parse(row.bundle);
      forged.config.admin.quorum = 1;
      await db2.query('UPDATE trust_bundles SET bundle = $1', [JSON.stringify(forged)]);
    } finally {
      await db2.close();
    }
    const bad = await run([
      'bundle',
      'export',
      '--config',
      p('config.yaml'),
      '--genesis',
      p('genesis2.json'),
      '--out',
      p('chain2.json'),
    ]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.out)).toMatchObject({ ok: false, code: 'BUNDLE_CHAIN_INVALID' });
  });
});

describe('custos approve --coordinator', () => {
  it('fetches by id, recomputes the digest, posts the approval; refuses a coordinator that lies', async () => {
    // A stand-in coordinator (node:http test double): serves one intent and records what is posted.
    const intent = makeIntent();
    const posted: { url: string; key: string | undefined; body: unknown }[] = [];
    let lie = false;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        if (req.method === 'GET') {
          const shown = lie ? { ...intent, amount: '1' } : intent;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id: intent.id, digest: bytesToHex(intentDigest(intent)), intent: shown }));
        } else {
          posted.push({
            url: req.url!,
            key: req.headers['idempotency-key'] as string | undefined,
            body: JSON.parse(body),
          });
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"state":"pending_approval"}');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await run([
        'approve',
        intent.id,
        '--coordinator',
        base,
        '--key',
        p('dan.key'),
        '--principal',
        'dan',
        ...pass,
      ]);
      expect(r.code).toBe(0);
      expect(posted).toHaveLength(1);
      expect(posted[0]!.url).toBe(`/v1/intents/${intent.id}/approvals`);
      expect(posted[0]!.body).toMatchObject({
        principal: 'dan',
        decision: 'approve',
        intentDigest: bytesToHex(intentDigest(intent)),
      });
      expect(posted[0]!.key).toBe(bytesToHex(approvalDigest(intentDigest(intent), 'approve')));
      // ATTACK: the coordinator shows one intent but claims the digest of another: nothing is signed or sent.
      lie = true;
      const bad = await run([
        'approve',
        intent.id,
        '--coordinator',
        base,
        '--key',
        p('dan.key'),
        '--principal',
        'dan',
        ...pass,
      ]);
      expect(bad.code).toBe(2);
      expect(JSON.parse(bad.out)).toMatchObject({ code: 'COORDINATOR_MISMATCH' });
      expect(posted).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('custos propose/vote output against the coordinator governance API', () => {
  it('the bodies the CLI posts are accepted by the coordinator adapter over GovernanceService', async () => {
    const db = await openPglite();
    try {
      await migrate(db);
      const genesis = JSON.parse(readFileSync(p('genesis.json'), 'utf8'));
      const gov = new GovernanceService(db, { genesis, now: () => new Date().toISOString() });
      const api = governanceAdapter(gov, async () => undefined);
      const g = (who: string) => ['--key', p(`${who}.key`), '--principal', `genesis:${keys[who]}`, ...pass];
      const prop = await run([
        'propose',
        '--config',
        p('config1.json'),
        '--genesis',
        p('genesis.json'),
        '--delay',
        '0',
        '--out',
        p('p-api.json'),
        ...g('alice'),
      ]);
      expect(prop.code).toBe(0);
      const file = JSON.parse(readFileSync(p('p-api.json'), 'utf8'));
      expect(
        await api.propose({ document: file.proposal, signature: file.signature }, new Date()),
      ).toMatchObject({
        digest: file.digest,
        status: 'pending',
      });
      const vote = JSON.parse((await run(['vote', p('p-api.json'), ...g('bob')])).out);
      expect(await api.vote(file.digest, { vote: vote.vote, signature: vote.signature }, new Date())).toEqual(
        { approvals: 2 },
      );
      expect(await api.executeDue()).toBe(1);
      expect((await gov.current())?.version).toBe(1);
    } finally {
      await db.close();
    }
  });
});
