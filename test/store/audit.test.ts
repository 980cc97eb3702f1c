import { afterAll, describe, expect, it, vi } from 'vitest';
import { auditHash, checkpointPayload } from '../../src/core/audit/index.ts';
import { AuditLog } from '../../src/store/audit.ts';
import { ed25519CheckpointSigner, generateEd25519Seed } from '../../src/store/audit-signer.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { rowToRecord, sampleEntry, tamper, testClock, testSigner } from '../audit/helpers.ts';
import { DATABASE_URL, storeBackends } from '../helpers/db.ts';

const backends = await storeBackends();
// PGlite (WASM) on a shared 2-core machine can be slow: correctness here, speed in the bench.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

describe.each(backends)('audit log on $name', (backend) => {
  afterAll(() => backend.cleanup());

  /** A 300-entry log with checkpoints at 100, 200 and 300. */
  async function seeded() {
    const db = await backend.open();
    const signer = testSigner();
    const log = new AuditLog(db, { now: testClock(), signer, checkpointEvery: 100 });
    for (let i = 0; i < 3; i++) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => log.append(sampleEntry(i * 100 + j))));
    }
    const keys = [signer.keyId];
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({ ok: true, entries: 300, checkpoints: 3 });
    return { db, log, keys, signer };
  }

  it('8 concurrent writers × 200 appends form one unbroken chain', async () => {
    const db = await backend.open();
    const signer = testSigner();
    const log = new AuditLog(db, { now: testClock(), signer, checkpointEvery: 250 });
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 200; i++) await log.append(sampleEntry(w * 1000 + i));
      }),
    );
    const r = await log.verify({ trustedKeys: [signer.keyId], pageSize: 333 });
    expect(r).toMatchObject({ ok: true, entries: 1600, checkpoints: 6, lastCheckpointSeq: 1500 });
    const { rows } = await db.query<{ n: string | number; d: string | number }>(
      'SELECT count(*) AS n, count(DISTINCT prev_hash) AS d FROM audit_log',
    );
    expect(Number(rows[0]!.n)).toBe(1600);
    expect(Number(rows[0]!.d)).toBe(1600); // no two entries share a predecessor: no fork
  });

  it('the database itself refuses a second entry with the same predecessor (a fork)', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    const [a] = await Promise.all([log.append(sampleEntry(1)), log.append(sampleEntry(2))]);
    const fork = { ...a!, seq: 3, subject: 'fork' };
    await expect(
      tamper(db, [
        [
          'INSERT INTO audit_log (seq, at, kind, actor, subject, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
          [
            3,
            fork.at,
            fork.kind,
            fork.actor,
            fork.subject,
            fork.body,
            fork.prevHash,
            auditHash(fork.prevHash, fork),
          ],
        ],
      ]),
    ).rejects.toThrow(/audit_log_prev_hash_key/);
  });

  it('appendInTx commits or rolls back together with the caller state', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    await db.exec('CREATE TABLE things (id text PRIMARY KEY)');
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO things VALUES ($1)', ['a']);
        await log.appendInTx(tx, [sampleEntry(1)]);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await log.head()).toBeNull();
    const recs = await db.transaction(async (tx) => {
      await tx.query('INSERT INTO things VALUES ($1)', ['a']);
      return log.appendInTx(tx, [sampleEntry(1), sampleEntry(2)]);
    });
    expect(recs.map((r) => r.seq)).toEqual([1, 2]);
    // A second AuditLog (another process) appends; the first one's cached head is now stale.
    const other = new AuditLog(db, { now: testClock() });
    await log.append(sampleEntry(3));
    await other.append(sampleEntry(4));
    await log.append(sampleEntry(5));
    await other.append(sampleEntry(6));
    expect(await log.verify({ trustedKeys: [] })).toMatchObject({ ok: true, entries: 6 });
  });

  it('refuses malformed entries before touching the database', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    await expect(log.append({ kind: 'Bad Kind', actor: 'a', subject: 's', body: {} })).rejects.toMatchObject({
      code: 'INVALID_AUDIT_ENTRY',
      field: 'kind',
    });
    await expect(
      log.append({ kind: 'x', actor: 'a', subject: 's', body: { n: Number.NaN } }),
    ).rejects.toMatchObject({ code: 'NOT_JSON' });
    expect(await log.head()).toBeNull();
  });

  it('signs a checkpoint on demand', async () => {
    const db = await backend.open();
    const signer = testSigner();
    const log = new AuditLog(db, { now: testClock(), signer });
    expect(await log.checkpoint()).toBeNull();
    const rec = await log.append(sampleEntry(1));
    const cp = await log.checkpoint();
    expect(cp).toMatchObject({ seq: 1, hash: rec.hash, keyId: signer.keyId });
    expect(await log.checkpoint()).toEqual(cp);
    expect(await log.verify({ trustedKeys: [signer.keyId] })).toMatchObject({
      ok: true,
      lastCheckpointSeq: 1,
    });
  });

  it('detects an edited body at its seq', async () => {
    const { db, log, keys } = await seeded();
    await tamper(db, [['UPDATE audit_log SET body = $1 WHERE seq = 57', ['{"amount":"999999"}']]]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({ ok: false, kind: 'edit', seq: 57 });
  });

  it('detects an entry edited and re-hashed on its own', async () => {
    const { db, log, keys } = await seeded();
    const { rows } = await db.query('SELECT * FROM audit_log WHERE seq = 80');
    const rec = { ...rowToRecord(rows[0]!), actor: 'mallory' };
    await tamper(db, [
      [
        'UPDATE audit_log SET actor = $1, hash = $2 WHERE seq = 80',
        ['mallory', auditHash(rec.prevHash, rec)],
      ],
    ]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({ ok: false, kind: 'edit', seq: 80 });
  });

  it('detects a deleted row at its seq', async () => {
    const { db, log, keys } = await seeded();
    await tamper(db, [['DELETE FROM audit_log WHERE seq = 120']]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({ ok: false, kind: 'deletion', seq: 120 });
  });

  it('detects an inserted row (later rows renumbered) at its seq', async () => {
    const { db, log, keys } = await seeded();
    const { rows } = await db.query('SELECT hash FROM audit_log WHERE seq = 149');
    const forged = {
      seq: 150,
      at: '2026-11-25T09:00:00.149Z',
      kind: 'intent.created',
      actor: 'svc-1',
      subject: 'intent-x',
      body: '{"amount":"100000000"}',
    };
    const hash = auditHash(rows[0]!.hash as string, forged);
    await tamper(db, [
      // A superuser can also drop the constraint that refuses two entries with one predecessor.
      ['ALTER TABLE audit_log DROP CONSTRAINT audit_log_prev_hash_key'],
      ['UPDATE audit_log SET seq = -seq WHERE seq >= 150'],
      ['UPDATE audit_log SET seq = 1 - seq WHERE seq < 0'],
      [
        'INSERT INTO audit_log (seq, at, kind, actor, subject, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [150, forged.at, forged.kind, forged.actor, forged.subject, forged.body, rows[0]!.hash, hash],
      ],
    ]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({ ok: false, kind: 'insertion', seq: 150 });
  });

  it('detects two swapped rows at the first of them', async () => {
    const { db, log, keys } = await seeded();
    await tamper(db, [
      ['UPDATE audit_log SET seq = CASE seq WHEN 210 THEN -211 ELSE -210 END WHERE seq IN (210, 211)'],
      ['UPDATE audit_log SET seq = -seq WHERE seq < 0'],
    ]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({ ok: false, kind: 'reorder', seq: 210 });
  });

  it('detects truncation after a checkpoint', async () => {
    const { db, log, keys } = await seeded();
    await tamper(db, [['DELETE FROM audit_log WHERE seq > 250']]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({
      ok: false,
      kind: 'truncation',
      seq: 251,
      details: { checkpointSeq: 300 },
    });
  });

  it('detects a chain rewritten and re-hashed after a checkpoint', async () => {
    const { db, log, keys } = await seeded();
    const { rows } = await db.query('SELECT * FROM audit_log WHERE seq >= 150 ORDER BY seq');
    let prev = (await db.query('SELECT hash FROM audit_log WHERE seq = 149')).rows[0]!.hash as string;
    const steps: Array<[string, unknown[]]> = [];
    for (const r of rows) {
      const rec = rowToRecord(r);
      if (rec.seq === 150) rec.body = '{"amount":"1"}';
      const hash = auditHash(prev, rec);
      steps.push([
        'UPDATE audit_log SET body = $1, prev_hash = $2, hash = $3 WHERE seq = $4',
        [rec.body, prev, hash, rec.seq],
      ]);
      prev = hash;
    }
    await tamper(db, steps);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({
      ok: false,
      kind: 'checkpoint-mismatch',
      seq: 200,
      details: { after: 100 },
    });
  });

  it('detects a forged checkpoint signature and a checkpoint signed by an unknown key', async () => {
    const { db, log, keys } = await seeded();
    const { rows } = await db.query<{ signature: string }>(
      'SELECT signature FROM audit_checkpoints WHERE seq = 200',
    );
    const sig = rows[0]!.signature;
    const flipped = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
    await tamper(db, [['UPDATE audit_checkpoints SET signature = $1 WHERE seq = 200', [flipped]]]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({
      ok: false,
      kind: 'checkpoint-signature',
      seq: 200,
    });

    const mallory = ed25519CheckpointSigner(generateEd25519Seed().seed);
    const cp = (await db.query('SELECT * FROM audit_checkpoints WHERE seq = 100')).rows[0]!;
    const forgedSig = mallory.sign(
      checkpointPayload({ seq: 100, hash: cp.hash as string, at: cp.at as string }),
    );
    await tamper(db, [
      [
        'UPDATE audit_checkpoints SET key_id = $1, signature = $2 WHERE seq = 100',
        [mallory.keyId, Buffer.from(forgedSig).toString('hex')],
      ],
    ]);
    expect(await log.verify({ trustedKeys: keys })).toMatchObject({
      ok: false,
      kind: 'unknown-key',
      seq: 100,
    });
  });

  if (backend.name === 'postgres') {
    it('two separate connection pools appending at once never fork the chain', async () => {
      const db1 = await backend.open();
      const db2 = await openPostgres({ connectionString: DATABASE_URL, schema: backend.lastSchema! });
      try {
        const clock = testClock();
        const logs = [new AuditLog(db1, { now: clock }), new AuditLog(db2, { now: clock })];
        await Promise.all(
          logs.flatMap((log, p) =>
            Array.from({ length: 4 }, async (_, w) => {
              for (let i = 0; i < 100; i++) await log.append(sampleEntry(p * 10_000 + w * 1000 + i));
            }),
          ),
        );
        expect(await logs[0]!.verify({ trustedKeys: [] })).toMatchObject({ ok: true, entries: 800 });
      } finally {
        await db2.close();
      }
    });
  }
});
