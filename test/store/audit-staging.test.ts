import { afterAll, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../src/store/audit.ts';
import type { Db } from '../../src/store/db.ts';
import { sampleEntry, testClock, testSigner } from '../audit/helpers.ts';
import { storeBackends } from '../helpers/db.ts';

const backends = await storeBackends();
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

async function chainSubjects(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ subject: string }>('SELECT subject FROM audit_log ORDER BY seq');
  return rows.map((r) => r.subject);
}

async function staged(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM audit_inbox');
  return Number(rows[0]!.n);
}

describe.each(backends)('staged audit entries on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('commit or roll back with the caller, then are sealed into the chain in order', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    await db.exec('CREATE TABLE things (id text PRIMARY KEY)');
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO things VALUES ($1)', ['rolled-back']);
        await log.stageInTx(tx, [sampleEntry(0)]);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    for (let i = 1; i <= 3; i++) {
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO things VALUES ($1)', [`t${i}`]);
        await log.stageInTx(tx, [sampleEntry(i * 10), sampleEntry(i * 10 + 1)]);
      });
    }
    // Staging also wakes the log's own sealer, which may have sealed some already.
    await log.sealPending();
    expect(await staged(db)).toBe(0);
    expect(await chainSubjects(db)).toEqual([10, 11, 20, 21, 30, 31].map((i) => `intent-${i}`));
    expect(await log.verify({ trustedKeys: [] })).toMatchObject({ ok: true, entries: 6 });
    expect(await log.sealPending()).toBe(0);
  });

  it('readers seal first: head and verify never miss a committed entry', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    await db.transaction((tx) => log.stageInTx(tx, [sampleEntry(1)]));
    expect(await log.head()).toMatchObject({ seq: 1 });
    await db.transaction((tx) => log.stageInTx(tx, [sampleEntry(2)]));
    expect(await log.verify({ trustedKeys: [] })).toMatchObject({ ok: true, entries: 2 });
  });

  it('two processes staging, appending and sealing at once form one chain with every entry once', async () => {
    const db = await backend.open();
    const a = new AuditLog(db, { now: testClock(), maxBatch: 7 });
    const b = new AuditLog(db, { now: testClock(Date.UTC(2026, 10, 25, 10)), maxBatch: 7 });
    const want: string[] = [];
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      const log = i % 2 ? a : b;
      want.push(`intent-${i}`);
      if (i % 3 === 0) work.push(log.append(sampleEntry(i)));
      else if (i % 3 === 1) work.push(db.transaction((tx) => log.stageInTx(tx, [sampleEntry(i)])));
      else work.push(db.transaction((tx) => log.appendInTx(tx, [sampleEntry(i)])));
      if (i % 10 === 9) work.push(a.sealPending(), b.sealPending());
    }
    await Promise.all(work);
    await Promise.all([a.sealPending(), b.sealPending()]);
    const got = await chainSubjects(db);
    expect([...got].sort()).toEqual([...want].sort());
    expect(await a.verify({ trustedKeys: [] })).toMatchObject({ ok: true, entries: 60 });
  });

  it('entries staged by a process that died before sealing are sealed by another one', async () => {
    const db = await backend.open();
    const dead = new AuditLog(db, { now: testClock() });
    await db.transaction((tx) => dead.stageInTx(tx, [sampleEntry(1), sampleEntry(2)]));
    // `dead` never seals (its timers are unref'd and it is dropped); a fresh process starts its sealer.
    const other = new AuditLog(db, { now: testClock() });
    other.startSealer();
    await vi.waitFor(async () => expect(await chainSubjects(db)).toEqual(['intent-1', 'intent-2']), {
      timeout: 30_000,
      interval: 50,
    });
    await other.stopSealer();
  });

  it('the background sealer chains staged entries without a reader asking', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    log.startSealer();
    for (let i = 0; i < 5; i++) await db.transaction((tx) => log.stageInTx(tx, [sampleEntry(i)]));
    await vi.waitFor(async () => expect(await staged(db)).toBe(0), { timeout: 30_000, interval: 20 });
    expect(await chainSubjects(db)).toHaveLength(5);
    await log.stopSealer();
  });

  it('stages in a steady stream are sealed in rounds at most every 100 ms, not one round per stage', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    const rounds = vi.spyOn(log, 'sealPending');
    // 40 stages over ~400 ms (one per ~10 ms, like transition batches at a steady rate).
    const t0 = performance.now();
    for (let i = 0; i < 40; i++) {
      await db.transaction((tx) => log.stageInTx(tx, [sampleEntry(i)]));
      await new Promise((r) => setTimeout(r, 10));
    }
    const elapsed = performance.now() - t0;
    await vi.waitFor(async () => expect(await staged(db)).toBe(0), { timeout: 30_000, interval: 20 });
    expect(await chainSubjects(db)).toHaveLength(40);
    // Paced by the stages it was a round ~10 ms after each one (here ~40); now one per 100 ms.
    expect(rounds.mock.calls.length).toBeLessThanOrEqual(Math.ceil((performance.now() - t0) / 100) + 2);
    expect(elapsed).toBeGreaterThan(350);
    await log.stopSealer();
  });

  it('an API-tier log (sealOnStage: false) leaves its stages to the workflow tier, whose next stage seals them', async () => {
    const db = await backend.open();
    const api = new AuditLog(db, { now: testClock(), sealOnStage: false });
    const seals = vi.spyOn(api, 'sealPending');
    await db.transaction((tx) => api.stageInTx(tx, [sampleEntry(1)]));
    api.staged();
    // Its own stage schedules no seal (the default schedules one 10 ms later).
    await new Promise((r) => setTimeout(r, 150));
    expect(seals).not.toHaveBeenCalled();
    expect(await staged(db)).toBe(1);
    // The workflow process stages its transition's entry and its sealer chains both, oldest first.
    const workflow = new AuditLog(db, { now: testClock() });
    await db.transaction((tx) => workflow.stageInTx(tx, [sampleEntry(2)]));
    await vi.waitFor(async () => expect(await staged(db)).toBe(0), { timeout: 30_000, interval: 20 });
    expect(await chainSubjects(db)).toEqual(['intent-1', 'intent-2']);
    // With no workflow process at all, the API log's idle look (startSealer) still seals.
    await db.transaction((tx) => api.stageInTx(tx, [sampleEntry(3)]));
    api.startSealer();
    await vi.waitFor(async () => expect(await chainSubjects(db)).toHaveLength(3), {
      timeout: 30_000,
      interval: 50,
    });
    await api.stopSealer();
    expect(await api.verify({ trustedKeys: [] })).toMatchObject({ ok: true, entries: 3 });
  });

  it('sealing writes the checkpoints that are due', async () => {
    const db = await backend.open();
    const signer = testSigner();
    const log = new AuditLog(db, { now: testClock(), signer, checkpointEvery: 4 });
    await db.transaction((tx) =>
      log.stageInTx(
        tx,
        Array.from({ length: 9 }, (_, i) => sampleEntry(i)),
      ),
    );
    await log.sealPending();
    expect(await log.verify({ trustedKeys: [signer.keyId] })).toMatchObject({
      ok: true,
      entries: 9,
      checkpoints: 1, // one per batch, at the highest multiple of N it crosses (8)
    });
  });

  it('a reader that cannot seal (read-only auditor) still verifies the sealed chain', async () => {
    const db = await backend.open();
    const errors: unknown[] = [];
    const log = new AuditLog(db, { now: testClock(), onSealError: (e) => errors.push(e) });
    await log.append(sampleEntry(1));
    // Sealing is made to fail as it would for a role without write access.
    await db.exec(`CREATE FUNCTION no_unstage() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'permission denied for table audit_inbox'; END $$;
      CREATE TRIGGER no_unstage BEFORE DELETE ON audit_inbox FOR EACH ROW EXECUTE FUNCTION no_unstage();`);
    await db.transaction((tx) => log.stageInTx(tx, [sampleEntry(2)]));
    expect(await log.verify({ trustedKeys: [] })).toMatchObject({ ok: true, entries: 1 });
    expect(errors.length).toBeGreaterThan(0);
    expect(await staged(db)).toBe(1);
  });

  it('a staged row cannot be edited in place (UPDATE refused)', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    await db.transaction((tx) => log.stageInTx(tx, [sampleEntry(1)]));
    await expect(db.query("UPDATE audit_inbox SET actor = 'mallory'")).rejects.toThrow(/append-only/);
  });

  it('refuses malformed entries before touching the database', async () => {
    const db = await backend.open();
    const log = new AuditLog(db, { now: testClock() });
    await expect(
      db.transaction((tx) => log.stageInTx(tx, [{ kind: 'Bad Kind', actor: 'a', subject: 's', body: {} }])),
    ).rejects.toMatchObject({ code: 'INVALID_AUDIT_ENTRY' });
    expect(await staged(db)).toBe(0);
  });
});
